"""Addresses built from one reverse() per URL name are the ones reverse() gives."""

import pytest
from django.urls import NoReverseMatch, reverse, set_script_prefix

from timeline import links


@pytest.mark.parametrize("slug", ["1993-04-kalbajar-taken", "a", "under_score-9"])
def test_a_slug_path_is_what_reverse_gives(slug):
    assert links.slug_path("timeline:event-detail", slug) == reverse("timeline:event-detail", args=[slug])
    assert links.slug_path("timeline:district-detail", slug) == reverse("timeline:district-detail", args=[slug])


def test_a_site_under_a_script_prefix_gets_it_in_every_path():
    set_script_prefix("/timeline/")
    try:
        assert links.slug_path("timeline:event-detail", "x") == "/timeline/events/x/"
        assert links.path("timeline:home") == "/timeline/"
    finally:
        set_script_prefix("/")
    assert links.slug_path("timeline:event-detail", "x") == "/events/x/"


def test_a_slug_the_url_refuses_still_fails_as_reverse_does():
    with pytest.raises(NoReverseMatch):
        links.slug_path("timeline:event-detail", "not a slug")


def test_a_list_of_slug_paths_gives_what_reverse_gives():
    path = links.slug_paths("timeline:event-detail")
    assert [path(slug) for slug in ("a", "b-2")] == [reverse("timeline:event-detail", args=[s]) for s in ("a", "b-2")]
    with pytest.raises(NoReverseMatch):
        path("not a slug")

"""Public pages (being built in the site issue)."""

from django.http import HttpResponse, HttpResponseNotFound, HttpResponseServerError


def _todo(request, *args, **kwargs):
    return HttpResponse("")


home = event_detail = district_list = district_detail = agreement_list = agreement_detail = handover_list = _todo


def page_not_found(request, exception):
    return HttpResponseNotFound("Not found")


def server_error(request):
    return HttpResponseServerError("Server error")

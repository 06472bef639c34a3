"""The three editorial roles as groups with their permissions.

* Editors write: they add, change and view every record, and delete drafts
  (the admin and the API turn the deletion of a published record into a
  withdrawal, which only reviewers may do).
* Reviewers do what editors do and hold ``review_<model>`` for every
  publishable model: they publish, correct and withdraw.
* Administrators may do everything, including managing accounts and groups.

Permissions are normally created after ``migrate`` finishes; they are created
here first so that a fresh database gets its groups in the same run. Running
this again leaves the groups as they are and only adds what is missing.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITORS, REVIEWERS, ADMINISTRATORS = "Editors", "Reviewers", "Administrators"
PUBLISHABLE = ["party", "district", "source", "agreement", "handover", "event"]
# Records of public acts are written by the workflow, never typed in.
READ_ONLY = ["publication"]


def _ensure_permissions(apps):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def create_roles(apps, schema_editor):
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    timeline = Permission.objects.filter(content_type__app_label="timeline")
    writes = r"^(add|change|delete)_"
    writing = (
        timeline.exclude(codename__startswith="review_")
        .exclude(content_type__model__in=READ_ONLY, codename__regex=writes)
        # History is written by saves, never edited: its rows are only viewed.
        .exclude(content_type__model__startswith="historical", codename__regex=writes)
    )
    reviewing = timeline.filter(codename__in=[f"review_{model}" for model in PUBLISHABLE])
    accounts = Permission.objects.filter(content_type__app_label__in=["auth", "authtoken"])
    audit = Permission.objects.filter(content_type__app_label="admin", codename="view_logentry")

    editors, _ = Group.objects.get_or_create(name=EDITORS)
    editors.permissions.add(*writing)
    reviewers, _ = Group.objects.get_or_create(name=REVIEWERS)
    reviewers.permissions.add(*writing, *reviewing)
    administrators, _ = Group.objects.get_or_create(name=ADMINISTRATORS)
    administrators.permissions.add(*writing, *reviewing, *accounts, *audit)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[EDITORS, REVIEWERS, ADMINISTRATORS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("timeline", "0003_review_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]

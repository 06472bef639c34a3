"""Staff pages under the admin: the dashboard, the audit log, the preview of a draft and the bulk import.

They are added to the admin site's URLs (``install``), so they share its
login, its look and its ``/admin/`` prefix.
"""

import datetime as dt

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import CharField, Prefetch, Value
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.dateparse import parse_date

from timeline import implementation, workflow
from timeline.admin import bulk_import
from timeline.models import (
    Agreement,
    ControlChange,
    Deadline,
    Discrepancy,
    District,
    Event,
    Handover,
    Party,
    PublicationStatus,
    Source,
)

PUBLISHABLE = [Event, Agreement, Handover, District, Party, Source]
DUE_SOON_DAYS = 14


def _admin_url(record) -> str:
    opts = record._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[record.pk])


# --------------------------------------------------------------------------
# Dashboard
# --------------------------------------------------------------------------


def _rows(model, queryset):
    return [{"record": record, "kind": model._meta.verbose_name, "url": _admin_url(record)} for record in queryset]


def dashboard(request):
    """What waits for review, my drafts, and deadlines due soon or passed without their handover."""
    today = implementation.today()
    waiting, mine = [], []
    for model in PUBLISHABLE:
        in_review = model.objects.filter(publication_status=PublicationStatus.IN_REVIEW).order_by("-updated_at")
        waiting += _rows(model, in_review[:50])
        created_by_me = model.history.filter(history_type="+", history_user=request.user).values("id")
        drafts = model.objects.filter(publication_status=PublicationStatus.DRAFT, pk__in=created_by_me)
        mine += _rows(model, drafts.order_by("-updated_at")[:50])
    deadlines = (
        Deadline.objects.filter(due_on__lte=today + dt.timedelta(days=DUE_SOON_DAYS))
        .exclude(handover__completed_on__isnull=False)
        .exclude(handover__cancelled_on__isnull=False)
        .select_related("agreement", "district", "handover")
        .prefetch_related("postponements")
        .order_by("due_on", "id")
    )
    due_soon, overdue = [], []
    for deadline in deadlines:
        state = implementation.deadline_state(deadline, today)
        row = {"state": state, "deadline": deadline, "url": _admin_url(deadline)}
        if state.overdue:
            overdue.append(row)
        elif state.status in ("scheduled", "postponed") and state.due_on >= today:
            due_soon.append(row)
    context = {
        **admin.site.each_context(request),
        "title": "Editorial dashboard",
        "waiting": sorted(waiting, key=lambda row: row["record"].updated_at, reverse=True),
        "mine": mine,
        "due_soon": due_soon,
        "overdue": overdue,
        "today": today,
        "days": DUE_SOON_DAYS,
        "is_administrator": workflow.is_administrator(request.user),
    }
    return TemplateResponse(request, "admin/timeline/dashboard.html", context)


# --------------------------------------------------------------------------
# Audit: every recorded change of every record
# --------------------------------------------------------------------------

AUDIT_PAGE_SIZE = 50


def audited_models():
    from django.apps import apps

    return sorted(
        (model for model in apps.get_app_config("timeline").get_models() if hasattr(model, "history")
         and not model.__name__.startswith("Historical")),
        key=lambda model: model._meta.verbose_name,
    )


def audit(request):
    """Administrators: historical rows across every model, newest first, filterable and paginated.

    One UNION query lists the page (plus one count), then each model on the
    page fetches its rows by id: a constant number of queries per page.
    """
    if not workflow.is_administrator(request.user):
        raise PermissionDenied
    models_by_name = {model._meta.model_name: model for model in audited_models()}
    chosen = request.GET.get("type", "")
    if chosen and chosen not in models_by_name:
        chosen = ""
    user_id = request.GET.get("user", "")
    user_id = int(user_id) if user_id.isdigit() else None
    since, until = parse_date(request.GET.get("since", "") or "") if _is_iso(request.GET.get("since")) else None, (
        parse_date(request.GET.get("until", "") or "") if _is_iso(request.GET.get("until")) else None
    )
    parts = []
    for name, model in models_by_name.items():
        if chosen and name != chosen:
            continue
        rows = model.history.all()
        if user_id is not None:
            rows = rows.filter(history_user_id=user_id)
        if since:
            rows = rows.filter(history_date__date__gte=since)
        if until:
            rows = rows.filter(history_date__date__lte=until)
        parts.append(rows.order_by().annotate(model_name=Value(name, output_field=CharField())).values_list(
            "history_id", "history_date", "model_name"))
    union = parts[0].union(*parts[1:], all=True).order_by("-history_date", "-history_id") if parts else []
    paginator = Paginator(union, AUDIT_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    wanted = {}
    for history_id, _, name in page.object_list:
        wanted.setdefault(name, []).append(history_id)
    found = {}
    for name, ids in wanted.items():
        for row in models_by_name[name].history.filter(history_id__in=ids).select_related("history_user"):
            found[(name, row.history_id)] = row
    entries = []
    for history_id, _, name in page.object_list:
        row = found[(name, history_id)]
        model = models_by_name[name]
        entries.append({
            "row": row,
            "kind": model._meta.verbose_name,
            "label": str(row.instance) if row.history_type != "-" else f"{model._meta.verbose_name} {row.id} (deleted)",
            "diff_url": reverse(f"admin:timeline_{name}_history_diff", args=[row.id, history_id]),
        })
    from django.contrib.auth import get_user_model

    query = request.GET.copy()
    query.pop("page", None)
    context = {
        **admin.site.each_context(request),
        "title": "Audit: every change",
        "entries": entries,
        "page": page,
        "types": [(name, model._meta.verbose_name) for name, model in models_by_name.items()],
        "users": get_user_model().objects.filter(is_staff=True).order_by("username").only("id", "username"),
        "chosen": chosen,
        "user_id": user_id,
        "since": since,
        "until": until,
        "query": query.urlencode(),
    }
    return TemplateResponse(request, "admin/timeline/audit.html", context)


def _is_iso(value) -> bool:
    if not value:
        return False
    try:
        return parse_date(value) is not None
    except ValueError:
        return False


# --------------------------------------------------------------------------
# Preview of an event as the public will see it
# --------------------------------------------------------------------------


def event_preview(request, pk):
    """Any event, in the public page's template, marked as a preview and kept out of search engines."""
    if not request.user.has_perm("timeline.view_event"):
        raise PermissionDenied
    event = (
        Event.objects.filter(pk=pk)
        .select_related("conflict", "claimed_by", "agreement", "handover__district", "handover__from_party",
                        "handover__to_party", "deadline", "postponement")
        .prefetch_related(
            "districts", "parties", "citations__source",
            Prefetch("discrepancies", queryset=Discrepancy.objects.prefetch_related("sources").order_by("id")),
            Prefetch("control_changes", queryset=ControlChange.objects.select_related("district", "controlled_by")
                     .order_by("district__name")),
        )
        .first()
    )
    if event is None:
        raise Http404("No event has this id.")
    context = {
        "event": event,
        "preview": True,
        "json_ld": {},
        "corrections": workflow.corrections_of(event),
        "change_url": _admin_url(event),
    }
    response = TemplateResponse(request, "admin/timeline/event_preview.html", context)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "private, no-store"
    return response


# --------------------------------------------------------------------------
# Bulk import
# --------------------------------------------------------------------------


def import_view(request):
    """Upload a dataset (JSON) or events (CSV): preview what would change, then import all or nothing."""
    if not (request.user.has_perm("timeline.add_event") and request.user.has_perm("timeline.change_event")):
        raise PermissionDenied
    may_publish = workflow.can_review(request.user, Event)
    form = bulk_import.ImportForm(request.POST or None, request.FILES or None, may_publish=may_publish)
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        run = bulk_import.BulkImport(
            name=upload.name, content=upload.read(), user=request.user,
            publish=form.cleaned_data.get("publish", False),
        )
        if "_import" in request.POST:
            report = run.execute(dry_run=False)
            if report.ok:
                messages.success(request, f"Imported {upload.name}: {report.summary}.")
        else:
            report = run.execute(dry_run=True)
    context = {
        **admin.site.each_context(request),
        "title": "Bulk import",
        "form": form,
        "report": report,
        "may_publish": may_publish,
        "csv_columns": bulk_import.CSV_COLUMNS,
    }
    return TemplateResponse(request, "admin/timeline/import.html", context, status=400 if report and not report.ok else 200)


# --------------------------------------------------------------------------
# Wiring into the admin site
# --------------------------------------------------------------------------


def urls():
    view = admin.site.admin_view
    return [
        path("dashboard/", view(dashboard), name="dashboard"),
        path("audit/", view(audit), name="audit"),
        path("import/", view(import_view), name="bulk-import"),
        path("preview/event/<int:pk>/", view(event_preview), name="event-preview"),
    ]


def install(site) -> None:
    """Put the staff pages in front of ``site``'s own URLs (named ``admin:dashboard`` and so on)."""
    site_urls = site.get_urls

    def get_urls():
        return urls() + site_urls()

    site.get_urls = get_urls


"""The staff admin: where editors write the record.

Every model has an admin with the history of its changes. Saves go through
the services (``timeline.admin.derived``) inside the admin's transaction, so a
record and what is derived from it (handover status, due dates, timeline
entries) never disagree. Derived fields and derived timeline entries are shown,
never edited.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, F, Prefetch, Q, URLField
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from timeline import selectors, workflow
from timeline.admin import derived, staff
from timeline.admin.forms import (
    AttachedToParentFormSet,
    ChangeReasonForm,
    DeadlineInAgreementForm,
    EventForm,
    HandoverForm,
    PostponementForm,
    PostponementInlineFormSet,
    RecordForm,
    RowGuardFormSet,
    StaleEditCheckForm,
)
from timeline.models import (
    Agreement,
    Citation,
    Conflict,
    ControlChange,
    Deadline,
    Discrepancy,
    District,
    DistrictAlias,
    Event,
    Handover,
    Membership,
    Party,
    Postponement,
    Provision,
    ProvisionStatusChange,
    PublishableModel,
    Signatory,
    Source,
)

admin.site.site_header = f"{settings.SITE_NAME}: editors"
admin.site.site_title = settings.SITE_NAME
admin.site.index_title = "The record"
staff.install(admin.site)


# --------------------------------------------------------------------------
# Shared behaviour
# --------------------------------------------------------------------------


class RecordAdmin(SimpleHistoryAdmin):
    """History, saves that keep derived records in step, and no 500 on a rule a form could not see.

    Every save asks for a reason (kept in the history with the user); the
    history page lists each change with a link to its field-by-field diff.

    Admins whose rows print related records join them in ``get_queryset`` (used by
    the change list, the autocomplete and the change page alike); the change list
    then ignores ``list_select_related``, so those admins do not set it.
    """

    form = RecordForm
    list_per_page = 50
    show_full_result_count = False
    history_list_display = ["diff_link"]

    # -- the form: a reason for every change, the user for the workflow -------------------------

    def get_form(self, request, obj=None, **kwargs):
        base = kwargs.pop("form", None) or self.form
        if not issubclass(base, ChangeReasonForm):
            base = type(base.__name__, (ChangeReasonForm, base), {})
        attrs = {"request_user": request.user, "reverting": getattr(request, "reverting_history", False)}
        kwargs["form"] = type(base.__name__, (base,), attrs)
        return super().get_form(request, obj, **kwargs)

    def workflow_fields(self, request, obj=None) -> list[str]:
        """The reason; for a row of a publishable record that is (or may be) public, the public note too."""
        if workflow.owner_paths(self.model) and (
            obj is None or any(workflow.is_public(owner) for owner in workflow.owners_of(obj))
        ):
            return ["change_reason", "public_note"]
        return ["change_reason"]

    def get_formsets_with_inlines(self, request, obj=None):
        """Every inline checks its rows with the workflow, given the user and the page's public note."""
        note = request.POST.get("public_note", "") if request.method == "POST" else ""
        for formset, inline in super().get_formsets_with_inlines(request, obj):
            guarded = type(formset.__name__, (RowGuardFormSet, formset), {"request_user": request.user,
                                                                          "public_note": note.strip()})
            yield guarded, inline

    # -- rows of a published record: read-only for editors, changed by reviewers as a correction ------------

    def has_change_permission(self, request, obj=None):
        if obj is not None and workflow.owner_paths(obj) and workflow.row_change_refusal(request.user, obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and workflow.owner_paths(obj) and workflow.row_change_refusal(request.user, obj):
            return False
        return super().has_delete_permission(request, obj)

    def get_base_fieldsets(self, request, obj=None):
        """The record's own fieldsets; admins with fieldsets that depend on the record override this."""
        return super().get_fieldsets(request, obj)

    def get_fieldsets(self, request, obj=None):
        return self.with_workflow_fields(request, obj, self.get_base_fieldsets(request, obj))

    def with_workflow_fields(self, request, obj, fieldsets):
        """The "why" of a save, where the user may save; nothing to explain on a read-only page."""
        if not self.has_change_permission(request, obj) and obj is not None:
            return fieldsets
        if obj is None and not self.has_add_permission(request):
            return fieldsets
        extra = self.workflow_fields(request, obj)
        return [*fieldsets, ("Why", {"fields": extra})]

    def save_model(self, request, obj, form, change):
        reason = (form.cleaned_data.get("change_reason") or "").strip()
        if getattr(request, "reverting_history", False):
            reason = f"reverted to an earlier version: {reason}"
        if reason:
            obj._change_reason = reason[: workflow.REASON_MAX]
        request.workflow_form = form
        if change and isinstance(obj, PublishableModel):
            # A revert from the history page starts from an old row; the version still only rises.
            current = type(obj).objects.filter(pk=obj.pk).values_list("version", flat=True).first()
            if current is not None:
                obj.version = max(obj.version, current)
        with workflow.change_context(user=request.user, reason=reason):
            super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        """Runs after the record and all its inlines are saved: the moment to re-derive."""
        reason = (form.cleaned_data.get("change_reason") or "").strip()
        with workflow.change_context(user=request.user, reason=reason):
            super().save_related(request, form, formsets, change)
            derived.record_saved(form.instance)
        self.after_save(request, form.instance, form, formsets)

    def delete_model(self, request, obj):
        derived.record_delete(obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                derived.record_delete(obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id and workflow.owner_paths(self.model):
            obj = self.get_object(request, unquote(object_id))
            refusal = workflow.row_change_refusal(request.user, obj) if obj is not None else None
            if refusal is not None and RecordAdmin.has_change_permission(self, request):
                if request.method == "POST":
                    self.message_user(request, f"Nothing was saved. {refusal.message}", messages.ERROR)
                    return HttpResponseRedirect(request.get_full_path())
                self.message_user(request, refusal.message, messages.WARNING)
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as error:
            # A service refused what the forms let through; its transaction is rolled back whole.
            self.message_user(request, f"Nothing was saved: {' '.join(error.messages)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        """Reverting to an old version is a save like any other: allowed only to who may change, and re-derived.

        The reason for the revert is required and kept in the history.
        """
        request.reverting_history = True
        if request.method != "POST":
            return super().history_form_view(request, object_id, version_id, extra_context)
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_change_history_permission(request, obj):
            raise PermissionDenied
        try:
            with transaction.atomic():
                response = super().history_form_view(request, object_id, version_id, extra_context)
                if response.status_code == 302:
                    saved = self.model.objects.get(pk=obj.pk)
                    derived.record_saved(saved)
                    self.after_save(request, saved, getattr(request, "workflow_form", None), [])
        except ValidationError as error:
            self.message_user(request, f"Nothing was reverted: {' '.join(error.messages)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return response

    def after_save(self, request, obj, form, formsets, *, corrected=None):
        """Log the corrections this save made to published records by changing their rows.

        One ``corrected`` act per record, with the page's public note; none for
        ``corrected``, a record whose own correction the caller already logged.
        Publishable records also write their own public act (``PublishableAdmin``).
        """
        owners = [*getattr(form, "row_owners", ()), *(o for f in formsets for o in getattr(f, "row_owners", ()))]
        if owners:
            note = ((form.cleaned_data.get("public_note") if form is not None else "") or "").strip()
            workflow.record_row_corrections(owners=owners, user=request.user, note=note, skip=[corrected])

    def delete_view(self, request, object_id, extra_context=None):
        """A row of a published record is deleted as a correction of it: by a reviewer, with a public note."""
        obj = self.get_object(request, unquote(object_id)) if workflow.owner_paths(self.model) else None
        public = [owner for owner in workflow.owners_of(obj) if workflow.is_public(owner)] if obj else []
        if not public:
            return super().delete_view(request, object_id, extra_context)
        opts = obj._meta
        refusal = workflow.row_change_refusal(request.user, obj)
        if refusal is not None:
            self.message_user(request, f"Nothing was deleted. {refusal.message}", messages.ERROR)
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied
        deleted_objects, model_count, perms_needed, protected = self.get_deleted_objects([obj], request)
        error, note = "", (request.POST.get("public_note") or "").strip()
        if request.method == "POST" and not (perms_needed or protected):
            try:
                with transaction.atomic():
                    corrected = workflow.check_row_change(user=request.user, rows=[obj], note=note)
                    with workflow.change_context(user=request.user, reason=f"deleted: {note}"):
                        self.log_deletions(request, [obj])
                        self.delete_model(request, obj)
                    workflow.record_row_corrections(owners=corrected, user=request.user, note=note)
            except workflow.WorkflowError as refused:
                error = refused.message
            else:
                self.message_user(request, f"“{obj}” was deleted. Readers are told, with your note, that "
                                  f"{' and '.join(str(owner) for owner in public)} was corrected.", messages.SUCCESS)
                return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Delete {obj}",
            "opts": opts,
            "object": obj,
            "owners": [f"the {owner._meta.verbose_name} “{owner}”" for owner in public],
            "deleted_objects": deleted_objects,
            "perms_lacking": perms_needed,
            "protected": protected,
            "error": error,
            "note": note,
        }
        return TemplateResponse(request, "admin/timeline/row_delete_confirmation.html", context)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if workflow.owner_paths(self.model) and "delete_selected" in actions:
            actions["delete_selected"] = (
                RecordAdmin.delete_unpublished_rows, "delete_selected", actions["delete_selected"][2]
            )
        return actions

    def delete_unpublished_rows(self, request, queryset):
        """The bulk delete, for rows of unpublished records only: a public record's rows go one by one, with a note."""
        seen = workflow.rows_of_public_records(queryset)
        if seen:
            self.message_user(
                request, "Nothing was deleted: " + ", ".join(str(row) for row in seen[:5]) + " belong to records "
                "readers have seen. Delete those from their own page, with a public note (a correction).",
                messages.ERROR,
            )
            return None
        return delete_selected(self, request, queryset)

    # -- history: a field-by-field diff of each change ---------------------------------------

    def get_urls(self):
        opts = self.model._meta
        return [
            path("<path:object_id>/history/<int:history_id>/diff/", self.admin_site.admin_view(self.history_diff_view),
                 name=f"{opts.app_label}_{opts.model_name}_history_diff"),
            *super().get_urls(),
        ]

    @admin.display(description="diff")
    def diff_link(self, record):
        opts = self.model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_history_diff", args=[record.id, record.history_id])
        return format_html('<a href="{}">field by field</a>', url)

    def history_diff_view(self, request, object_id, history_id):
        history = self.model.history
        row = history.filter(id=unquote(object_id), history_id=history_id).select_related("history_user").first()
        if row is None:
            raise Http404("No such change.")
        record = self.model._default_manager.filter(pk=row.id).first() or row.instance
        if not self.has_view_history_or_change_history_permission(request, record):
            raise PermissionDenied
        previous = row.prev_record
        changes = []
        if previous is not None:
            names = {f.name: getattr(f, "verbose_name", f.name) for f in self.model._meta.get_fields()}
            changes = [{"field": names.get(c.field, c.field), "old": c.old, "new": c.new}
                       for c in row.diff_against(previous).changes]
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change of {record} on {row.history_date:%Y-%m-%d %H:%M}",
            "opts": opts,
            "record": record,
            "row": row,
            "previous": previous,
            "changes": changes,
            "history_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[row.id]),
            "revert_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_simple_history",
                                  args=[row.id, previous.history_id]) if previous is not None else None,
        }
        return TemplateResponse(request, "admin/timeline/history_diff.html", context)


class PublishableAdmin(RecordAdmin):
    """A record with a publication status: the editorial workflow, stale-edit guard and soft deletes.

    Editors see published records read-only (a reviewer corrects them with a
    public note); deleting a record readers have seen withdraws it instead.
    """

    form = StaleEditCheckForm
    actions = ["submit_for_review", "publish_selected"]

    def get_fieldsets(self, request, obj=None):
        """The hidden version field only where the editor may save; a read-only view has nothing to guard."""
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj) or obj is None:
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "opened_version"]})
            for name, options in fieldsets
        ]

    @staticmethod
    def stored(obj):
        """The record as saved now: a revert page holds an old version whose status may differ."""
        if obj is None or obj.pk is None:
            return obj
        return type(obj)._default_manager.filter(pk=obj.pk).only("publication_status", "published_at").first()

    def workflow_fields(self, request, obj=None) -> list[str]:
        stored = self.stored(obj)
        if stored is not None and workflow.is_public(stored) and workflow.can_review(request.user, stored):
            return ["change_reason", "public_note"]
        return ["change_reason"]

    def has_change_permission(self, request, obj=None):
        if obj is not None and not workflow.can_change_in_place(request.user, self.stored(obj) or obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and (workflow.is_public(obj) or obj.published_at is not None):
            return obj.publication_status != workflow.WITHDRAWN and workflow.can_review(request.user, obj)
        return super().has_delete_permission(request, obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        may_change = obj is not None and RecordAdmin.has_change_permission(self, request, obj)
        if may_change and not workflow.can_change_in_place(request.user, obj):
            state = obj.get_publication_status_display()
            text = (f"This {obj._meta.verbose_name} is {state}: editors cannot change it in place. "
                    "A reviewer can correct it (with a public note) or withdraw it.")
            if request.method == "POST":
                self.message_user(request, f"Nothing was saved. {text}", messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())
            self.message_user(request, text, messages.WARNING)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        request.workflow_form_class = form
        return form

    def after_save(self, request, obj, form, formsets, *, corrected=None):
        """The public act of this save, judged with the inline rows too, and written once all is saved.

        Changed inline rows of a published record correct it (``RecordAdmin.after_save``
        logs that once, unless this save's own act already is that correction).
        """
        if form is None:
            return
        act = getattr(form, "workflow_act", None)
        note = (form.cleaned_data.get("public_note") or "").strip()
        inlines_changed = any(formset.has_changed() for formset in formsets)
        if inlines_changed and act == workflow.Publication.Action.PUBLISHED and not workflow.is_administrator(request.user):
            raise ValidationError(
                "Four eyes: you changed this record while publishing it; set it to “in review” and ask another "
                "reviewer to publish it."
            )
        if act:
            workflow.record_public_act(record=obj, action=act, user=request.user, note=note)
        super().after_save(request, obj, form, formsets,
                           corrected=obj if act == workflow.Publication.Action.CORRECTED else corrected)

    # -- deleting what readers have seen withdraws it ------------------------------------------

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is None or getattr(obj, "is_derived", False) or not (workflow.is_public(obj) or obj.published_at):
            return super().delete_view(request, object_id, extra_context)
        if not self.has_delete_permission(request, obj):
            self.message_user(
                request, f"This {obj._meta.verbose_name} is {obj.get_publication_status_display()}: readers have "
                "seen it, so it is never deleted. A reviewer can withdraw it with a public note.", messages.ERROR,
            )
            return HttpResponseRedirect(reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change",
                                                args=[obj.pk]))
        error = ""
        if request.method == "POST":
            note = (request.POST.get("public_note") or "").strip()
            try:
                workflow.delete_or_withdraw(record=obj, user=request.user, note=note)
            except workflow.WorkflowError as refusal:
                error = refusal.message
            else:
                self.message_user(request, f"“{obj}” was withdrawn; its page now says so, with your note.",
                                  messages.SUCCESS)
                return HttpResponseRedirect(reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change",
                                                    args=[obj.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Withdraw {obj}",
            "opts": obj._meta,
            "object": obj,
            "error": error,
            "note": request.POST.get("public_note", ""),
        }
        return TemplateResponse(request, "admin/timeline/withdraw_confirmation.html", context)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            actions["delete_selected"] = (
                PublishableAdmin.delete_drafts, "delete_selected", actions["delete_selected"][2]
            )
        return actions

    def delete_drafts(self, request, queryset):
        """The bulk delete, for drafts only: what readers have seen is withdrawn one by one, with a note."""
        seen = queryset.filter(Q(publication_status__in=workflow.PUBLIC) | Q(published_at__isnull=False))
        if seen.exists():
            self.message_user(
                request, "Nothing was deleted: readers have seen " + ", ".join(str(r) for r in seen[:5])
                + ". Withdraw a published record from its own page, with a public note.", messages.ERROR,
            )
            return None
        return delete_selected(self, request, queryset)

    # -- the workflow's own steps as list actions ------------------------------------------

    def _each(self, request, queryset, act, done: str):
        ok, refused = [], []
        for record in queryset:
            try:
                act(record=record, user=request.user)
                ok.append(str(record))
            except workflow.WorkflowError as refusal:
                refused.append(f"{record}: {refusal.message}")
        if ok:
            self.message_user(request, f"{done}: {', '.join(ok)}.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, f"Refused. {line}", messages.ERROR)

    @admin.action(description="Submit the selected drafts for review", permissions=["change"])
    def submit_for_review(self, request, queryset):
        self._each(request, queryset, workflow.submit_for_review, "Submitted for review")

    @admin.action(description="Publish the selected records (reviewers)", permissions=["review"])
    def publish_selected(self, request, queryset):
        self._each(request, queryset, workflow.publish, "Published")

    def has_review_permission(self, request):
        return workflow.can_review(request.user, self.model)

    # -- preview of what readers would see ---------------------------------------------

    @admin.display(description="status", ordering="publication_status")
    def status_badge(self, obj):
        return format_html('<strong class="publication-{}">{}</strong>', obj.publication_status,
                           obj.get_publication_status_display())


class CitationInline(admin.TabularInline):
    model = Citation
    form = RecordForm
    formset = AttachedToParentFormSet
    fields = ["source", "locator", "passage", "order"]
    autocomplete_fields = ["source"]
    extra = 0
    verbose_name_plural = "citations (the sources that support this record)"


class DiscrepancyInline(admin.StackedInline):
    model = Discrepancy
    form = RecordForm
    formset = AttachedToParentFormSet
    fields = ["aspect", "description", "sources"]
    autocomplete_fields = ["sources"]
    extra = 0
    verbose_name_plural = "discrepancies (where sources disagree)"


def inline_for(base, fk_name: str):
    """``base`` attached through ``fk_name`` (citations and discrepancies may hang off many models)."""
    return type(f"{base.__name__}For{fk_name.title().replace('_', '')}", (base,), {"fk_name": fk_name})


class PostponedFilter(admin.SimpleListFilter):
    title = "postponed"
    parameter_name = "postponed"

    def lookups(self, request, model_admin):
        return [("yes", "postponed"), ("no", "on its original date")]

    def queryset(self, request, queryset):
        due, original = self.due_fields
        if self.value() == "yes":
            return queryset.exclude(**{due: F(original)})
        if self.value() == "no":
            return queryset.filter(**{due: F(original)})
        return queryset

    due_fields = ("due_on", "original_due_on")


# --------------------------------------------------------------------------
# Conflicts, parties, districts
# --------------------------------------------------------------------------


@admin.register(Conflict)
class ConflictAdmin(RecordAdmin):
    list_display = ["name", "slug", "updated_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


class MembersInline(admin.TabularInline):
    model = Membership
    form = RecordForm
    fk_name = "group"
    fields = ["member", "role", "started_on", "ended_on"]
    autocomplete_fields = ["member"]
    extra = 0
    verbose_name_plural = "members of this group"


class MemberOfInline(admin.TabularInline):
    model = Membership
    form = RecordForm
    fk_name = "member"
    fields = ["group", "role", "started_on", "ended_on"]
    autocomplete_fields = ["group"]
    extra = 0
    verbose_name_plural = "groups this party belongs to"


@admin.register(Party)
class PartyAdmin(PublishableAdmin):
    list_display = ["name", "short_name", "kind", "colour_swatch", "status_badge", "updated_at"]
    list_filter = ["publication_status", "kind"]
    search_fields = ["name", "short_name", "slug"]
    ordering = ["name"]
    prepopulated_fields = {"slug": ["name"]}
    fields = ["publication_status", "name", "slug", "short_name", "kind", "colour", "description", "opened_version"]
    inlines = [MembersInline, MemberOfInline]

    @admin.display(description="colour")
    def colour_swatch(self, obj):
        if not obj.colour:
            return ""
        return format_html(
            # An SVG fill, not a style attribute: the Content-Security-Policy refuses inline styles.
            '<svg width="14" height="14" aria-hidden="true"><rect width="14" height="14" fill="{}"/></svg> {}',
            obj.colour, obj.colour,
        )


@admin.register(Membership)
class MembershipAdmin(RecordAdmin):
    list_display = ["member", "role", "group", "started_on", "ended_on"]
    list_filter = ["role"]
    search_fields = ["member__name", "group__name", "role"]
    autocomplete_fields = ["group", "member"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member", "group")


class DistrictAliasInline(admin.TabularInline):
    model = DistrictAlias
    form = RecordForm
    fields = ["name", "language", "kind"]
    extra = 0
    verbose_name_plural = "other names (every spelling and script; all of them find this district)"


@admin.register(District)
class DistrictAdmin(PublishableAdmin):
    list_display = ["name", "other_names", "kind", "parent", "conflict", "status_badge", "updated_at"]
    list_filter = ["publication_status", "conflict", "kind"]
    list_select_related = ["parent", "conflict"]
    search_fields = ["name", "aliases__name"]
    search_help_text = "Any name or spelling, in any script, with or without diacritics."
    ordering = ["name"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["parent"]
    fieldsets = [
        (None, {"fields": ["publication_status", "name", "slug", "conflict", "kind", "parent", "opened_version"]}),
        ("Place", {"fields": [("latitude", "longitude"), "boundary"]}),
        (None, {"fields": ["description"]}),
    ]
    inlines = [DistrictAliasInline, inline_for(DiscrepancyInline, "district")]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(
            Prefetch("aliases", queryset=DistrictAlias.objects.order_by("language", "name"))
        )

    def get_search_results(self, request, queryset, search_term):
        """Names and aliases, folded: 'Kelbecer', 'karvachar' and 'Кельбаджар' all find one district."""
        search_term = search_term.strip()
        if not search_term:
            return queryset, False
        return queryset.filter(pk__in=selectors.district_ids_matching(search_term)), False

    @admin.display(description="other names")
    def other_names(self, obj):
        return ", ".join(alias.name for alias in obj.aliases.all())


@admin.register(DistrictAlias)
class DistrictAliasAdmin(RecordAdmin):
    list_display = ["name", "language", "kind", "district"]
    list_select_related = ["district"]
    list_filter = ["kind", "language"]
    search_fields = ["name", "search_key", "district__name"]
    autocomplete_fields = ["district"]
    ordering = ["district__name", "language", "name"]


# --------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------


@admin.register(Source)
class SourceAdmin(PublishableAdmin):
    list_display = ["title", "publisher", "kind", "published", "status_badge", "updated_at"]
    list_filter = ["publication_status", "kind", "published_on_precision"]
    search_fields = ["title", "publisher", "author"]
    date_hierarchy = "published_on"
    prepopulated_fields = {"slug": ["title"]}
    formfield_overrides = {URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (None, {"fields": ["publication_status", "title", "slug", "kind", "opened_version"]}),
        ("Who and when", {"fields": ["publisher", "author", ("published_on", "published_on_precision"), "language"]}),
        ("Where", {"fields": ["url", "description"]}),
    ]

    @admin.display(description="published", ordering="published_on")
    def published(self, obj):
        return obj.published_on_display


# --------------------------------------------------------------------------
# Agreements and what hangs off them
# --------------------------------------------------------------------------


class SignatoryInline(admin.TabularInline):
    model = Signatory
    form = RecordForm
    fields = ["party", "person_name", "role", "capacity", "order"]
    autocomplete_fields = ["party"]
    extra = 0


class ProvisionInline(admin.StackedInline):
    model = Provision
    form = RecordForm
    fields = [("number", "summary"), "text"]
    extra = 0
    show_change_link = True  # status changes are edited on the point's own page


class DeadlineInline(admin.StackedInline):
    model = Deadline
    form = DeadlineInAgreementForm
    fields = [
        "obligation", ("district", "obligated_party", "provision"), ("original_due_on", "due_on"),
    ]
    readonly_fields = ["due_on"]
    autocomplete_fields = ["district", "obligated_party", "provision"]
    extra = 0
    show_change_link = True  # postponements are recorded on the deadline's own page


@admin.register(Agreement)
class AgreementAdmin(PublishableAdmin):
    list_display = ["title", "signed", "kind", "conflict", "status_badge", "updated_at"]
    list_filter = ["publication_status", "conflict", "kind", "signed_on_precision"]
    list_select_related = ["conflict"]
    search_fields = ["title", "short_title", "summary"]
    date_hierarchy = "signed_on"
    ordering = ["-signed_on", "id"]
    prepopulated_fields = {"slug": ["title"]}
    fieldsets = [
        (None, {"fields": ["publication_status", "title", "short_title", "slug", "conflict", "kind", "opened_version"]}),
        ("Signing", {"fields": [("signed_on", "signed_on_precision"), "signed_at_place",
                                ("effective_at", "effective_timezone")]}),
        (None, {"fields": ["summary"]}),
    ]
    inlines = [
        SignatoryInline, ProvisionInline, DeadlineInline,
        inline_for(CitationInline, "agreement"), inline_for(DiscrepancyInline, "agreement"),
    ]

    @admin.display(description="signed", ordering="signed_on")
    def signed(self, obj):
        return obj.signed_on_display


@admin.register(Signatory)
class SignatoryAdmin(RecordAdmin):
    list_display = ["__str__", "role", "agreement", "capacity"]
    list_select_related = ["agreement", "party"]
    list_filter = ["capacity"]
    search_fields = ["person_name", "party__name", "agreement__title"]
    autocomplete_fields = ["agreement", "party"]

    def get_readonly_fields(self, request, obj=None):
        # Moving a signatory to another agreement would leave the first agreement's entry behind.
        return ["agreement"] if obj is not None else []


class ProvisionStatusChangeInline(admin.StackedInline):
    model = ProvisionStatusChange
    form = RecordForm
    fields = [("status", "from_date", "claimed_by"), "note", ("evidence_events", "evidence_handovers")]
    autocomplete_fields = ["claimed_by", "evidence_events", "evidence_handovers"]
    extra = 0
    show_change_link = True  # citations of a status change are on its own page
    verbose_name_plural = "implementation history (one row per change; never overwrite)"


@admin.register(Provision)
class ProvisionAdmin(RecordAdmin):
    list_display = ["number", "summary", "agreement"]
    list_display_links = ["number", "summary"]
    list_filter = ["agreement"]
    search_fields = ["summary", "text", "agreement__title", "agreement__short_title"]
    autocomplete_fields = ["agreement"]
    ordering = ["agreement__signed_on", "agreement_id", "number"]
    inlines = [ProvisionStatusChangeInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("agreement")


@admin.register(ProvisionStatusChange)
class ProvisionStatusChangeAdmin(RecordAdmin):
    list_display = ["provision", "status", "from_date", "claimed_by"]
    list_filter = ["status", "provision__agreement"]
    search_fields = ["provision__summary", "provision__agreement__title", "note"]
    date_hierarchy = "from_date"
    autocomplete_fields = ["provision", "claimed_by", "evidence_events", "evidence_handovers"]
    inlines = [inline_for(CitationInline, "status_change")]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("provision__agreement", "claimed_by")


class PostponementInline(admin.StackedInline):
    model = Postponement
    form = RecordForm
    formset = PostponementInlineFormSet
    fields = [("sequence", "from_date", "to_date", "decided_on"), ("requested_by", "agreed_by"), "reason"]
    readonly_fields = ["sequence", "from_date"]
    autocomplete_fields = ["requested_by", "agreed_by"]
    extra = 0
    show_change_link = True  # citations of a postponement are on its own page
    verbose_name_plural = "postponements (numbered and chained from the original date when saved)"


class HandoverStatusFilter(admin.SimpleListFilter):
    title = "handover status"
    parameter_name = "handover_status"

    def lookups(self, request, model_admin):
        return Handover.Status.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(handover__status=self.value())
        return queryset


@admin.register(Deadline)
class DeadlineAdmin(RecordAdmin):
    list_display = ["obligation", "agreement", "district", "original_due_on", "due_on", "postponements_count",
                    "handover_status"]
    list_filter = [PostponedFilter, HandoverStatusFilter, "agreement", "district"]
    list_select_related = ["agreement", "district", "handover"]
    search_fields = ["obligation", "agreement__title", "district__name"]
    date_hierarchy = "due_on"
    ordering = ["due_on", "id"]
    autocomplete_fields = ["agreement", "provision", "district", "obligated_party"]
    fieldsets = [
        (None, {"fields": ["agreement", "provision", "obligation", "district", "obligated_party"]}),
        ("Dates", {
            "fields": ["original_due_on", "due_on"],
            "description": "The original date is what the text set; it never changes when the deadline is "
            "postponed. The current date follows from the postponements below.",
        }),
    ]
    inlines = [PostponementInline, inline_for(CitationInline, "deadline"), inline_for(DiscrepancyInline, "deadline")]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(postponement_total=Count("postponements"))

    def get_readonly_fields(self, request, obj=None):
        # Moving a deadline to another agreement would leave the first agreement's entry behind.
        return ["agreement", "due_on"] if obj is not None else ["due_on"]

    @admin.display(description="postponements", ordering="postponement_total")
    def postponements_count(self, obj):
        return obj.postponement_total

    @admin.display(description="handover")
    def handover_status(self, obj):
        handover = getattr(obj, "handover", None)
        return handover.get_status_display() if handover else ""

    def save_formset(self, request, form, formset, change):
        if formset.model is not Postponement:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        for postponement in formset.deleted_objects:
            postponement.delete()
        to_save = {id(p) for p in (*formset.new_objects, *(obj for obj, _ in formset.changed_objects))}
        for row in formset.forms:
            postponement = row.instance
            if id(postponement) not in to_save:
                continue
            # From the chain the formset checked; deadline_refresh renumbers and re-chains right after.
            postponement.from_date = row.chained_from_date
            if postponement.pk is None:
                postponement.sequence = row.provisional_sequence
            postponement.save()
        formset.save_m2m()


@admin.register(Postponement)
class PostponementAdmin(RecordAdmin):
    form = PostponementForm
    list_display = ["deadline", "sequence", "from_date", "to_date", "decided_on", "requested_by"]
    list_filter = ["deadline__agreement", "requested_by"]
    search_fields = ["deadline__obligation", "reason"]
    date_hierarchy = "decided_on"
    ordering = ["deadline__original_due_on", "deadline_id", "sequence"]
    autocomplete_fields = ["deadline", "requested_by", "agreed_by"]
    inlines = [inline_for(CitationInline, "postponement")]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("deadline", "requested_by")

    def get_readonly_fields(self, request, obj=None):
        # Moving a postponement to another deadline would re-chain two deadlines; record a new one instead.
        return ["deadline", "sequence", "from_date"] if obj is not None else ["sequence", "from_date"]

    def save_model(self, request, obj, form, change):
        obj.from_date = form.chained_from_date
        if obj.pk is None:
            obj.sequence = form.provisional_sequence
        super().save_model(request, obj, form, change)


# --------------------------------------------------------------------------
# Handovers
# --------------------------------------------------------------------------


@admin.register(Handover)
class HandoverAdmin(PublishableAdmin):
    form = HandoverForm
    list_display = ["district", "from_party", "to_party", "agreement", "status", "original_due", "current_due",
                    "completed_on", "status_badge"]
    list_filter = ["publication_status", "status", "agreement", "district"]
    search_fields = ["district__name", "district__aliases__name", "from_party__name", "to_party__name", "summary"]
    date_hierarchy = "completed_on"
    ordering = ["deadline__original_due_on", "district__name", "id"]
    autocomplete_fields = ["district", "agreement", "deadline", "from_party", "to_party"]
    fieldsets = [
        (None, {"fields": ["publication_status", "district", "agreement", "deadline", "opened_version"]}),
        ("Parties", {"fields": [("from_party", "to_party")]}),
        ("Progress", {
            "fields": ["status", ("original_due", "current_due"), "completed_on", "cancelled_on", "summary"],
            "description": "The status follows from the dates: completed once it took place, cancelled once "
            "called off, postponed while its deadline is moved. Postpone on the deadline's page.",
        }),
    ]
    readonly_fields = ["status", "original_due", "current_due"]
    inlines = [inline_for(CitationInline, "handover"), inline_for(DiscrepancyInline, "handover")]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(
            "district", "from_party", "to_party", "deadline", "agreement"
        )

    @admin.display(description="original deadline", ordering="deadline__original_due_on")
    def original_due(self, obj):
        return obj.original_due_on or ""

    @admin.display(description="current deadline", ordering="deadline__due_on")
    def current_due(self, obj):
        return obj.due_on or ""


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------


class ControlChangeInline(admin.TabularInline):
    model = ControlChange
    form = RecordForm
    fields = ["district", "controlled_by"]
    autocomplete_fields = ["district", "controlled_by"]
    extra = 0
    verbose_name_plural = "control changes (who controls which district from this event on)"


DERIVED_NOTE = (
    "This entry is derived from its {record} and kept in step with it: it cannot be edited here. "
    "Change the {record} instead."
)


@admin.register(Event)
class EventAdmin(PublishableAdmin):
    form = EventForm
    list_display = ["when", "title", "kind", "origin", "conflict", "claimed_by", "status_badge"]
    list_display_links = ["when", "title"]
    list_filter = ["publication_status", "conflict", "kind", "origin", "date_precision", "agreement", "districts"]
    list_select_related = ["conflict", "claimed_by"]
    search_fields = ["title", "summary"]
    date_hierarchy = "date"
    ordering = ["-date", "-id"]
    autocomplete_fields = ["claimed_by", "districts", "parties", "agreement", "handover", "deadline", "postponement"]
    readonly_fields = ["origin", "derived_from", "span_end"]
    inlines = [ControlChangeInline, inline_for(CitationInline, "event"), inline_for(DiscrepancyInline, "event")]

    def get_base_fieldsets(self, request, obj=None):
        lead = {"fields": ["publication_status", "title", "slug", "conflict", "kind", "opened_version"]}
        if obj is not None and obj.is_derived:
            lead = {"fields": ["derived_from", "publication_status", "title", "slug", "conflict", "kind"],
                    "description": DERIVED_NOTE.format(record=self.derived_record_name(obj))}
        return [
            (None, lead),
            ("When", {"fields": [("date", "date_precision"), ("end_date", "end_date_precision"), "span_end"]}),
            ("What", {"fields": ["summary", "body", "claimed_by"]}),
            ("About", {"fields": ["districts", "parties", "agreement", "handover", "deadline", "postponement"]}),
            ("Origin", {"fields": ["origin"]}),
        ]

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_derived:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_derived:
            return False
        return super().has_delete_permission(request, obj)

    def get_view_on_site_url(self, obj=None):
        """A draft's "view on site" is its preview: the public page, marked as such, for staff only."""
        if obj is not None and obj.pk and obj.publication_status not in workflow.PUBLIC:
            return reverse("admin:event-preview", args=[obj.pk])
        return super().get_view_on_site_url(obj)

    @admin.display(description="date", ordering="date")
    def when(self, obj):
        return obj.date_display

    @staticmethod
    def derived_record_name(obj) -> str:
        return {
            Event.Origin.AGREEMENT_SIGNED: "agreement",
            Event.Origin.DEADLINE_DUE: "deadline",
            Event.Origin.DEADLINE_POSTPONED: "deadline",
            Event.Origin.HANDOVER_COMPLETED: "handover",
        }.get(obj.origin, "record")

    @admin.display(description="comes from")
    def derived_from(self, obj):
        record = {
            Event.Origin.AGREEMENT_SIGNED: obj.agreement,
            Event.Origin.DEADLINE_DUE: obj.deadline,
            Event.Origin.DEADLINE_POSTPONED: obj.deadline,
            Event.Origin.HANDOVER_COMPLETED: obj.handover,
        }.get(obj.origin)
        if record is None:
            return "an editor" if not obj.is_derived else "a record that no longer exists"
        opts = record._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[record.pk])
        return format_html('<a href="{}">{} {}</a>', url, opts.verbose_name, record)


@admin.register(ControlChange)
class ControlChangeAdmin(RecordAdmin):
    list_display = ["district", "controlled_by", "event"]
    list_select_related = ["district", "controlled_by", "event"]
    list_filter = ["controlled_by", "district"]
    search_fields = ["district__name", "controlled_by__name", "event__title"]
    autocomplete_fields = ["event", "district", "controlled_by"]


# --------------------------------------------------------------------------
# Citations and discrepancies
# --------------------------------------------------------------------------

RECORD_JOINS = [
    "event", "agreement", "deadline", "postponement__deadline", "handover__district", "handover__from_party",
    "handover__to_party", "status_change__provision__agreement",
]


@admin.register(Citation)
class CitationAdmin(RecordAdmin):
    list_display = ["source", "locator", "cites"]
    list_select_related = ["source", *RECORD_JOINS]
    list_filter = ["source__kind"]
    search_fields = ["source__title", "source__publisher", "passage", "locator"]
    autocomplete_fields = ["source", "event", "agreement", "deadline", "postponement", "handover", "status_change"]
    fieldsets = [
        (None, {"fields": ["source", "locator", "passage", "order"]}),
        ("Cites (exactly one record)", {
            "fields": ["event", "agreement", "deadline", "postponement", "handover", "status_change"],
        }),
    ]

    def save_model(self, request, obj, form, change):
        # A citation moved to another record: the record it leaves re-derives too (in save_related).
        obj.previously_cited = Citation.objects.filter(pk=obj.pk).first() if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if form.instance.previously_cited is not None:
            derived.record_saved(form.instance.previously_cited)

    @admin.display(description="cites")
    def cites(self, obj):
        return next((str(getattr(obj, name)) for name in
                     ("event", "agreement", "deadline", "postponement", "handover", "status_change")
                     if getattr(obj, f"{name}_id")), "")


@admin.register(Discrepancy)
class DiscrepancyAdmin(RecordAdmin):
    list_display = ["aspect", "about"]
    list_select_related = ["event", "agreement", "district", "deadline", "handover__district",
                           "handover__from_party", "handover__to_party"]
    search_fields = ["aspect", "description"]
    autocomplete_fields = ["event", "agreement", "district", "handover", "deadline", "sources"]
    fieldsets = [
        (None, {"fields": ["aspect", "description", "sources"]}),
        ("About (exactly one record)", {"fields": ["event", "agreement", "district", "handover", "deadline"]}),
    ]

    @admin.display(description="about")
    def about(self, obj):
        return next((str(getattr(obj, name)) for name in ("event", "agreement", "district", "handover", "deadline")
                     if getattr(obj, f"{name}_id")), "")

"""Fewer indexes to write on the tables an import grows: events' and citations' mostly empty references
get partial indexes; the historical copies of events lose indexes no query uses; an event's
publication status is indexed only through the composite indexes that lead with it.

Django's AlterField drops every index on a column whose db_index goes off, the partial unique
indexes of constraints included (event_one_per_*): they are removed first and added again last.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Q


ONE_PER = [
    ("event_one_per_agreement_signing", "agreement", "agreement_signed"),
    ("event_one_per_deadline", "deadline", "deadline_due"),
    ("event_one_per_postponement", "postponement", "deadline_postponed"),
    ("event_one_per_handover_completion", "handover", "handover_completed"),
]


class Migration(migrations.Migration):

    dependencies = [
        ('timeline', '0006_event_search'),
    ]

    operations = [
        *[migrations.RemoveConstraint(model_name="event", name=name) for name, _, _ in ONE_PER],
        migrations.AlterField(
            model_name='citation',
            name='agreement',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='citations', to='timeline.agreement'),
        ),
        migrations.AlterField(
            model_name='citation',
            name='deadline',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='citations', to='timeline.deadline'),
        ),
        migrations.AlterField(
            model_name='citation',
            name='handover',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='citations', to='timeline.handover'),
        ),
        migrations.AlterField(
            model_name='citation',
            name='postponement',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='citations', to='timeline.postponement'),
        ),
        migrations.AlterField(
            model_name='citation',
            name='status_change',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='citations', to='timeline.provisionstatuschange'),
        ),
        migrations.AlterField(
            model_name='event',
            name='agreement',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='events', to='timeline.agreement'),
        ),
        migrations.AlterField(
            model_name='event',
            name='claimed_by',
            field=models.ForeignKey(blank=True, db_index=False, help_text="Set when this is one side's statement, not an established fact.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='claims', to='timeline.party'),
        ),
        migrations.AlterField(
            model_name='event',
            name='deadline',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='events', to='timeline.deadline'),
        ),
        migrations.AlterField(
            model_name='event',
            name='handover',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='events', to='timeline.handover'),
        ),
        migrations.AlterField(
            model_name='event',
            name='kind',
            field=models.CharField(choices=[('political', 'political'), ('military', 'military'), ('ceasefire', 'ceasefire'), ('agreement', 'agreement'), ('deadline', 'deadline'), ('handover', 'handover'), ('negotiation', 'negotiation'), ('humanitarian', 'humanitarian'), ('displacement', 'displacement'), ('statement', 'statement'), ('other', 'other')], max_length=16),
        ),
        migrations.AlterField(
            model_name='event',
            name='postponement',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='events', to='timeline.postponement'),
        ),
        migrations.AlterField(
            model_name='event',
            name='publication_status',
            field=models.CharField(choices=[('draft', 'draft'), ('in_review', 'in review'), ('published', 'published'), ('withdrawn', 'withdrawn')], default='draft', max_length=16),
        ),
        migrations.AlterField(
            model_name='historicalcitation',
            name='source',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='timeline.source'),
        ),
        migrations.AlterField(
            model_name='historicalcitation',
            name='updated_at',
            field=models.DateTimeField(blank=True, editable=False),
        ),
        migrations.AlterField(
            model_name='historicalevent',
            name='agreement',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='timeline.agreement'),
        ),
        migrations.AlterField(
            model_name='historicalevent',
            name='claimed_by',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, help_text="Set when this is one side's statement, not an established fact.", null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='timeline.party'),
        ),
        migrations.AlterField(
            model_name='historicalevent',
            name='conflict',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='timeline.conflict'),
        ),
        migrations.AlterField(
            model_name='historicalevent',
            name='deadline',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='timeline.deadline'),
        ),
        migrations.AlterField(
            model_name='historicalevent',
            name='handover',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='timeline.handover'),
        ),
        migrations.AlterField(
            model_name='historicalevent',
            name='kind',
            field=models.CharField(choices=[('political', 'political'), ('military', 'military'), ('ceasefire', 'ceasefire'), ('agreement', 'agreement'), ('deadline', 'deadline'), ('handover', 'handover'), ('negotiation', 'negotiation'), ('humanitarian', 'humanitarian'), ('displacement', 'displacement'), ('statement', 'statement'), ('other', 'other')], max_length=16),
        ),
        migrations.AlterField(
            model_name='historicalevent',
            name='postponement',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='timeline.postponement'),
        ),
        migrations.AlterField(
            model_name='historicalevent',
            name='publication_status',
            field=models.CharField(choices=[('draft', 'draft'), ('in_review', 'in review'), ('published', 'published'), ('withdrawn', 'withdrawn')], default='draft', max_length=16),
        ),
        migrations.AlterField(
            model_name='historicalevent',
            name='slug',
            field=models.SlugField(db_index=False, max_length=140),
        ),
        migrations.AlterField(
            model_name='historicalevent',
            name='updated_at',
            field=models.DateTimeField(blank=True, editable=False),
        ),
        migrations.AddIndex(
            model_name='citation',
            index=models.Index(condition=models.Q(('agreement__isnull', False)), fields=['agreement'], name='citation_agreement_set'),
        ),
        migrations.AddIndex(
            model_name='citation',
            index=models.Index(condition=models.Q(('deadline__isnull', False)), fields=['deadline'], name='citation_deadline_set'),
        ),
        migrations.AddIndex(
            model_name='citation',
            index=models.Index(condition=models.Q(('postponement__isnull', False)), fields=['postponement'], name='citation_postponement_set'),
        ),
        migrations.AddIndex(
            model_name='citation',
            index=models.Index(condition=models.Q(('handover__isnull', False)), fields=['handover'], name='citation_handover_set'),
        ),
        migrations.AddIndex(
            model_name='citation',
            index=models.Index(condition=models.Q(('status_change__isnull', False)), fields=['status_change'], name='citation_status_change_set'),
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(fields=['kind'], name='event_kind'),
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(condition=models.Q(('claimed_by__isnull', False)), fields=['claimed_by'], name='event_claimed_by_set'),
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(condition=models.Q(('agreement__isnull', False)), fields=['agreement'], name='event_agreement_set'),
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(condition=models.Q(('handover__isnull', False)), fields=['handover'], name='event_handover_set'),
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(condition=models.Q(('deadline__isnull', False)), fields=['deadline'], name='event_deadline_set'),
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(condition=models.Q(('postponement__isnull', False)), fields=['postponement'], name='event_postponement_set'),
        ),
        *[
            migrations.AddConstraint(
                model_name="event",
                constraint=models.UniqueConstraint(fields=[field], condition=Q(origin=origin), name=name),
            )
            for name, field, origin in ONE_PER
        ],
    ]

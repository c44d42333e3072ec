# "Try your model" predictions as job rows (issue 23), written by hand.

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('submissions', '0009_submission_reference'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Prediction',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('predict', 'prediction'), ('explain', 'word weights'), ('maps', 'feature maps')], max_length=8)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('answered', 'Answered'), ('failed', 'Failed'), ('error', 'Error')], default='queued', max_length=10)),
                ('asked', models.TextField()),
                ('answer', models.JSONField(blank=True, default=dict)),
                ('reason', models.CharField(blank=True, max_length=500)),
                ('job_token', models.UUIDField(default=uuid.uuid4)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('worker', models.CharField(blank=True, max_length=200)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('expires_at', models.DateTimeField()),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('participant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='predictions', to=settings.AUTH_USER_MODEL)),
                ('submission', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='predictions', to='submissions.submission')),
            ],
            options={
                'indexes': [models.Index(fields=['status', 'expires_at'], name='prediction_waiting'), models.Index(fields=['participant', 'status', 'expires_at'], name='prediction_mine'), models.Index(fields=['finished_at'], name='prediction_done'), models.Index(fields=['heartbeat_at'], name='prediction_beat')],
            },
        ),
    ]

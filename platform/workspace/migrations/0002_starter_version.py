"""A draft's first version is the starter, not a reset; labels carry no note."""

from django.db import migrations, models


def relabel(apps, schema_editor):
    """Give versions kept before this change the reasons new ones get."""
    versions = apps.get_model("workspace", "DraftVersion").objects
    versions.filter(reason="reset", note="The starter").update(
        reason="starter", note=""
    )
    versions.filter(reason="submit", note__startswith="Submission #").update(note="")


class Migration(migrations.Migration):
    dependencies = [
        ("workspace", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="draftversion",
            name="reason",
            field=models.CharField(
                choices=[
                    ("edit", "While editing"),
                    ("check", "Check run"),
                    ("submit", "Submitted"),
                    ("restore", "Restored"),
                    ("starter", "Starter"),
                    ("reset", "Reset to starter"),
                    ("import", "Imported"),
                    ("conflict", "Kept from another tab"),
                    ("leave", "Left the page"),
                ],
                max_length=16,
            ),
        ),
        migrations.RunPython(relabel, migrations.RunPython.noop),
    ]

from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    name = "workspace"

    def ready(self) -> None:
        from submissions import extensions
        from workspace.selectors import draft_bytes_for_participant, draft_page_context

        # Submissions sit below the workspace: they learn of drafts from here.
        extensions.disk_counter_register(draft_bytes_for_participant)
        extensions.page_context_register(draft_page_context)

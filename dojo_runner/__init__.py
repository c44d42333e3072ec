"""dojo-runner: a host that joins a Dojo site over HTTP and trains its jobs.

No Django, database, broker, secret or site disk: the runner holds only its
own host credential. It registers with a one-time join token, long-polls for
work, downloads the script and the training split by signed URL (the split
cached by its sha256), runs the job spec in the same sandbox as the site's
workers (`workers.sandbox`), heartbeats with the log, uploads the model with
its exact length and digest, and reports the validated result
(`workers.jobspec`). See docs/runners.md.
"""

VERSION = "1"

__all__ = ["VERSION"]

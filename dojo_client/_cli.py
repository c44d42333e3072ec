"""The ``python -m dojo_client`` commands."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from dojo_client._api import ApiClient, ClientError

DEFAULT_URL = "http://127.0.0.1:8000"
FINAL_STATUSES = ("graded", "failed", "error", "cancelled")
EXIT_OK, EXIT_SUBMISSION_FAILED, EXIT_ERROR = 0, 1, 2


def token_file() -> Path:
    """Return where ``login --save`` keeps the token."""
    configured = os.environ.get("DOJO_TOKEN_FILE")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "dojo" / "token"


def _token(args: argparse.Namespace) -> str | None:
    if args.token:
        return args.token
    if os.environ.get("DOJO_TOKEN"):
        return os.environ["DOJO_TOKEN"]
    saved = token_file()
    if saved.is_file():
        return saved.read_text().strip() or None
    return None


def _client(args: argparse.Namespace, *, token: bool = True) -> ApiClient:
    client = ApiClient(args.url, _token(args) if token else None)
    if token and not client.token:
        raise ClientError(
            "No API token. Run `python -m dojo_client login --save`, or pass "
            "--token, or set DOJO_TOKEN."
        )
    return client


def _find_workshop(client: ApiClient, assignment: str, workshop: str | None) -> str:
    """Return the workshop to use: the given one, else the only one that fits."""
    if workshop:
        return workshop
    fits = [
        w["slug"]
        for w in client.get("workshops/")
        if any(a["slug"] == assignment for a in w["assignments"])
    ]
    if len(fits) == 1:
        return fits[0]
    if not fits:
        raise ClientError(f"None of your workshops has an assignment “{assignment}”.")
    raise ClientError(
        f"Several workshops have “{assignment}”: pass --workshop "
        f"(one of {', '.join(fits)})."
    )


def cmd_login(args: argparse.Namespace, out: TextIO) -> int:
    """Exchange a username and password for a token; print or save it."""
    client = _client(args, token=False)
    username = args.username or input("Username: ")
    password = args.password or os.environ.get("DOJO_PASSWORD") or getpass.getpass()
    answer = client.post("token/", {"username": username, "password": password})
    token = answer["token"]
    if args.save:
        path = token_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(token + "\n")
        print(f"Logged in as {answer['username']}; token saved to {path}.", file=out)
    else:
        print(token, file=out)
    return EXIT_OK


def cmd_workshops(args: argparse.Namespace, out: TextIO) -> int:
    """Print my workshops and their assignments."""
    for workshop in _client(args).get("workshops/"):
        print(f"{workshop['slug']}: {workshop['title']} ({workshop['role']})", file=out)
        for assignment in workshop["assignments"]:
            print(f"  {assignment['slug']:<12} {assignment['title']}", file=out)
    return EXIT_OK


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    """Print my submissions, newest first."""
    rows = _client(args).get(
        "submissions/", workshop=args.workshop, assignment=args.assignment
    )
    if not rows:
        print("No submissions yet.", file=out)
    for row in rows:
        score = "" if row["score"] is None else f"score {row['score']:.1f}"
        print(
            f"#{row['id']:<6} {row['workshop']}/{row['assignment']:<10} "
            f"{row['status']:<10} {score:<12} {row['original_name']} "
            f"{row['created_at']}",
            file=out,
        )
    return EXIT_OK


def cmd_leaderboard(args: argparse.Namespace, out: TextIO) -> int:
    """Print an assignment's leaderboard."""
    client = _client(args)
    workshop = _find_workshop(client, args.assignment, args.workshop)
    board = client.get(
        f"workshops/{workshop}/assignments/{args.assignment}/leaderboard/"
    )
    part = board.get("part", "public")
    print(
        f"Leaderboard of {workshop}/{args.assignment}: the {part} ranking by "
        f"accuracy (score: {board['score_policy']})",
        file=out,
    )
    if not board["rows"]:
        print("Nobody has been graded yet.", file=out)
    for row in board["rows"]:
        private = (
            f"  private {row['private_accuracy']:.4f}"
            if row["private_accuracy"] is not None
            else ""
        )
        public = row["public_accuracy"]
        public_text = "" if public is None else f"public {public:.4f}"
        score = "-" if row["score"] is None else f"{row['score']:.1f}"
        print(
            f"{row['rank']:>3}. {row['participant']:<20} {score:>6}  "
            f"{public_text}{private}",
            file=out,
        )
    return EXIT_OK


def _status_line(submission: dict[str, Any]) -> str:
    line = f"[dojo] #{submission['id']} {submission['status']}"
    if submission.get("queue_position"):
        line += f" (position {submission['queue_position']} in the queue)"
    if submission.get("reason"):
        line += f": {submission['reason']}"
    return line


def _print_grade(grade: dict[str, Any], out: TextIO) -> None:
    print(f"Score: {grade['score']:.1f} / {grade['max_score']:.0f}", file=out)
    if grade["public_accuracy"] is not None:
        print(f"Public accuracy: {grade['public_accuracy']:.4f}", file=out)
    if grade.get("private_accuracy") is not None:
        print(f"Private accuracy: {grade['private_accuracy']:.4f}", file=out)
    if grade.get("reason"):
        print(f"Note: {grade['reason']}", file=out)
    if grade["checks"]:
        print("Checks:", file=out)
        for check in grade["checks"]:
            mark = "PASS" if check.get("passed") else "FAIL"
            print(
                f"  [{mark}] {check.get('message', '')}",
                file=out,
            )
    if grade["layers"]:
        print(f"Layers ({grade['params_total']} parameters):", file=out)
        for layer in grade["layers"]:
            print(
                f"  {layer.get('name', ''):<24} {layer.get('type', ''):<20} "
                f"{layer.get('output_shape')}  {layer.get('params', 0)}",
                file=out,
            )


def follow(
    client: ApiClient,
    submission_id: int,
    out: TextIO,
    *,
    interval: float = 1.0,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Print status changes and the log until the submission ends; then the grade."""
    deadline = None if timeout is None else time.monotonic() + timeout
    run, offset, last_line = None, 0, ""
    while True:
        submission = client.get(f"submissions/{submission_id}/")
        line = _status_line(submission)
        if line != last_line:
            print(line, file=out, flush=True)
            last_line = line
        log = client.get(f"submissions/{submission_id}/log/", offset=offset)
        if log["run"] != run:
            run, offset = log["run"], 0
            log = client.get(f"submissions/{submission_id}/log/", offset=0)
        if log["text"]:
            out.write(log["text"])
            out.flush()
        offset = log["next_offset"]
        if submission["final"]:
            break
        if deadline is not None and time.monotonic() > deadline:
            print(
                f"[dojo] stopped following after {timeout:.0f} s; the submission "
                "goes on. Check it with `status`.",
                file=out,
            )
            return EXIT_SUBMISSION_FAILED
        sleep(interval)
    if submission["status"] == "graded":
        _print_grade(client.get(f"submissions/{submission_id}/grade/"), out)
        return EXIT_OK
    return EXIT_SUBMISSION_FAILED


def cmd_submit(args: argparse.Namespace, out: TextIO) -> int:
    """Upload a file, then follow it until it is graded."""
    path = Path(args.file)
    if not path.is_file():
        raise ClientError(
            f"No such file: {path}. Give the path of your .py or .ipynb file."
        )
    if path.suffix.lower() not in (".py", ".ipynb"):
        raise ClientError(f"{path.name} is neither a .py script nor a .ipynb notebook.")
    client = _client(args)
    fields = {"assignment": args.assignment}
    if args.workshop:
        fields["workshop"] = args.workshop
    submission = client.upload("submissions/", fields, "file", path)
    print(
        f"[dojo] submitted {path.name} as #{submission['id']} to "
        f"{submission['workshop']}/{submission['assignment']}",
        file=out,
        flush=True,
    )
    if args.no_follow:
        return EXIT_OK
    return follow(
        client, submission["id"], out, interval=args.interval, timeout=args.timeout
    )


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    """Print a submission's status (and grade), or follow it."""
    client = _client(args)
    if args.follow:
        return follow(
            client, args.id, out, interval=args.interval, timeout=args.timeout
        )
    submission = client.get(f"submissions/{args.id}/")
    print(_status_line(submission), file=out)
    if submission["status"] == "graded":
        _print_grade(client.get(f"submissions/{args.id}/grade/"), out)
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace, out: TextIO) -> int:
    """Cancel one of my submissions."""
    submission = _client(args).post(f"submissions/{args.id}/cancel/")
    print(_status_line(submission), file=out)
    return EXIT_OK


def _options(*, defaults: bool) -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--url",
        default=os.environ.get("DOJO_URL", DEFAULT_URL)
        if defaults
        else argparse.SUPPRESS,
        help="the site's address (env DOJO_URL; default http://127.0.0.1:8000)",
    )
    options.add_argument(
        "--token",
        default=None if defaults else argparse.SUPPRESS,
        help="API token (env DOJO_TOKEN, or login --save)",
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="python -m dojo_client",
        parents=[_options(defaults=True)],
        description="Submit training code to Dojo and follow it until graded.",
    )
    # The same options after the command; without defaults there, so that
    # `--token T submit ...` is not reset by the subcommand's own default.
    common = _options(defaults=False)
    commands = parser.add_subparsers(dest="command", required=True)

    login = commands.add_parser("login", parents=[common], help="get an API token")
    login.add_argument("--username")
    login.add_argument("--password", help="(env DOJO_PASSWORD; asked if missing)")
    login.add_argument(
        "--save", action="store_true", help="save the token for later commands"
    )
    login.set_defaults(run=cmd_login)

    following = argparse.ArgumentParser(add_help=False)
    following.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="seconds between polls (default %(default)s)",
    )
    following.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="stop following after this many seconds",
    )

    submit = commands.add_parser(
        "submit",
        parents=[common, following],
        help="upload a .py or .ipynb and follow it",
    )
    submit.add_argument("file")
    submit.add_argument("--assignment", required=True, help="assignment slug")
    submit.add_argument("--workshop", help="workshop slug (if you are in several)")
    submit.add_argument("--no-follow", action="store_true", help="return once uploaded")
    submit.set_defaults(run=cmd_submit)

    status = commands.add_parser(
        "status", parents=[common, following], help="show a submission"
    )
    status.add_argument("id", type=int)
    status.add_argument(
        "--follow", action="store_true", help="follow the log until the end"
    )
    status.set_defaults(run=cmd_status)

    listing = commands.add_parser("list", parents=[common], help="my submissions")
    listing.add_argument("--workshop")
    listing.add_argument("--assignment")
    listing.set_defaults(run=cmd_list)

    board = commands.add_parser(
        "leaderboard", parents=[common], help="an assignment's leaderboard"
    )
    board.add_argument("--assignment", required=True)
    board.add_argument("--workshop")
    board.set_defaults(run=cmd_leaderboard)

    workshops = commands.add_parser(
        "workshops", parents=[common], help="my workshops and assignments"
    )
    workshops.set_defaults(run=cmd_workshops)

    cancel = commands.add_parser("cancel", parents=[common], help="cancel a submission")
    cancel.add_argument("id", type=int)
    cancel.set_defaults(run=cmd_cancel)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one command; return the exit status (0 ok, 1 submission failed, 2 error)."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args, out or sys.stdout)
    except ClientError as exc:
        print(f"dojo: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(
            "dojo: interrupted; the submission goes on. Check it with `status`.",
            file=sys.stderr,
        )
        return 130

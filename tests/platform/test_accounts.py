"""Sign up, log in, log out, change password."""

import io
import re

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from workshops.models import Enrollment, Workshop

pytestmark = pytest.mark.django_db


def test_signup_with_join_code_enrolls_and_opens_the_workshop(client, workshop):
    """A new user who signs up with the join code lands on the workshop page."""
    response = client.post(
        reverse("signup"),
        {
            "username": "newbie",
            "email": "n@example.org",
            "password1": "a-long-pass-9876",
            "password2": "a-long-pass-9876",
            "join_code": workshop.join_code.lower(),
        },
    )
    assert response.status_code == 302
    assert response.url == workshop.get_absolute_url()
    assert Enrollment.objects.filter(
        user__username="newbie", workshop=workshop, role="participant"
    ).exists()
    page = client.get(response.url)
    assert workshop.title in page.content.decode()


def test_signup_with_a_wrong_code_stores_nothing(client, workshop):
    """A wrong join code is refused next to its field and no account is made."""
    response = client.post(
        reverse("signup"),
        {
            "username": "newbie",
            "password1": "a-long-pass-9876",
            "password2": "a-long-pass-9876",
            "join_code": "NOPE1234",
        },
    )
    assert response.status_code == 200
    assert "No workshop has that join code" in response.content.decode()
    assert not User.objects.filter(username="newbie").exists()


def test_signup_password_mismatch_is_shown(client, db):
    response = client.post(
        reverse("signup"),
        {
            "username": "x",
            "password1": "a-long-pass-9876",
            "password2": "other-pass-9876",
        },
    )
    assert "password fields didn’t match" in response.content.decode()
    assert not User.objects.filter(username="x").exists()


def test_login_logout_and_password_change(client, participant):
    page = client.get(reverse("login"))
    assert b'<label for="id_username">' in page.content
    bad = client.post(reverse("login"), {"username": "ada", "password": "wrong"})
    assert "correct username and password" in bad.content.decode()
    ok = client.post(reverse("login"), {"username": "ada", "password": "ada-pass-123"})
    assert ok.status_code == 302
    refused = client.post(
        reverse("password_change"),
        {"old_password": "nope", "new_password1": "x", "new_password2": "x"},
    )
    assert "old password was entered incorrectly" in refused.content.decode()
    changed = client.post(
        reverse("password_change"),
        {
            "old_password": "ada-pass-123",
            "new_password1": "brand-new-pass-42",
            "new_password2": "brand-new-pass-42",
        },
    )
    assert changed.status_code == 302
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302
    assert client.login(username="ada", password="brand-new-pass-42")


def test_pages_need_login(client, workshop):
    response = client.get(workshop.get_absolute_url())
    assert response.status_code == 302
    assert reverse("login") in response.url


def _signup(username: str, join_code: str = "", **meta):
    return Client(**meta).post(
        reverse("signup"),
        {
            "username": username,
            "password1": "a-long-pass-9876",
            "password2": "a-long-pass-9876",
            "join_code": join_code,
        },
    )


def test_closed_signup_makes_no_account(workshop, settings):
    """With DOJO_SIGNUP=closed the page says so, and a POST, even with the
    join code, creates nothing."""
    settings.DOJO_SIGNUP = "closed"
    page = Client().get(reverse("signup"))
    assert page.status_code == 403
    assert "ask your instructor" in page.content.decode().lower()
    assert _signup("newbie", workshop.join_code).status_code == 403
    assert not User.objects.filter(username="newbie").exists()


def test_code_signup_needs_a_join_code(workshop, settings):
    """With DOJO_SIGNUP=code an account needs a workshop's join code; what was
    typed is kept on the form."""
    settings.DOJO_SIGNUP = "code"
    response = _signup("newbie")
    assert response.status_code == 200
    assert "needs your workshop" in response.content.decode()
    assert 'value="newbie"' in response.content.decode()
    assert not User.objects.filter(username="newbie").exists()
    assert _signup("newbie", workshop.join_code).status_code == 302


def test_open_signup_needs_no_code(db, settings):
    settings.DOJO_SIGNUP = "open"
    assert _signup("newbie").status_code == 302
    assert User.objects.filter(username="newbie").exists()


def test_signup_is_throttled_per_address(workshop, settings):
    """Past the signup rate an address gets 429 and no account; a form that
    made no account does not count; another address still signs up."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "signup": "2/minute",
        },
    }
    code = workshop.join_code
    assert _signup("first", "NOPE1234", REMOTE_ADDR="10.1.0.1").status_code == 200
    for name in ("first", "second"):
        assert _signup(name, code, REMOTE_ADDR="10.1.0.1").status_code == 302
    refused = _signup("third", code, REMOTE_ADDR="10.1.0.1")
    assert refused.status_code == 429
    assert "Too many accounts" in refused.content.decode()
    assert not User.objects.filter(username="third").exists()
    assert _signup("third", code, REMOTE_ADDR="10.1.0.2").status_code == 302


def test_dojo_setup_refuses_demo_logins_unless_allowed(db, settings):
    """Without DOJO_DEMO_USERS (production) dojo_setup changes nothing and says
    why; --demo-users creates them anyway."""
    settings.DOJO_DEMO_USERS = False
    with pytest.raises(CommandError, match="DOJO_DEMO_USERS is off"):
        call_command("dojo_setup")
    assert not User.objects.filter(username="instructor").exists()
    assert not Workshop.objects.exists()
    call_command("dojo_setup", "--demo-users", stdout=io.StringIO())
    assert User.objects.get(username="instructor").is_superuser


def test_the_instructor_closes_and_opens_signup_from_a_page(instructor, settings):
    """The site's instructor (staff) sets who may sign up in a page, over
    DOJO_SIGNUP: closed makes no account even with a join code; open needs none."""
    settings.DOJO_SIGNUP = "code"
    instructor.is_staff = True
    instructor.save()
    client = Client()
    client.force_login(instructor)
    page = client.get(reverse("signup-settings"))
    assert page.status_code == 200
    assert re.search(r'<input[^>]*value="code"[^>]*checked', page.content.decode())
    closed = client.post(reverse("signup-settings"), {"mode": "closed"}, follow=True)
    assert "Sign-up is now: Closed" in closed.content.decode()
    code = instructor.enrollments.get().workshop.join_code
    assert _signup("newbie", code).status_code == 403
    assert not User.objects.filter(username="newbie").exists()
    client.post(reverse("signup-settings"), {"mode": "open"})
    assert _signup("newbie").status_code == 302


@pytest.mark.parametrize("mode", ["", "wide", "CLOSED"])
def test_a_bad_signup_mode_is_refused_naming_the_field(instructor, settings, mode):
    settings.DOJO_SIGNUP = "open"
    instructor.is_staff = True
    instructor.save()
    client = Client()
    client.force_login(instructor)
    refused = client.post(reverse("signup-settings"), {"mode": mode})
    assert refused.status_code == 400
    assert (
        "Who may sign up: pick open, join code or closed." in refused.content.decode()
    )
    assert _signup("newbie").status_code == 302


def test_only_staff_may_change_who_signs_up(participant, instructor, settings):
    """A participant, or an instructor of one workshop who is not staff, gets
    no such page, and their POST changes nothing."""
    settings.DOJO_SIGNUP = "open"
    for user in (participant, instructor):
        client = Client()
        client.force_login(user)
        assert client.get(reverse("signup-settings")).status_code == 404
        posted = client.post(reverse("signup-settings"), {"mode": "closed"})
        assert posted.status_code == 404
    assert _signup("newbie").status_code == 302

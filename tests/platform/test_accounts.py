"""Sign up, log in, log out, change password."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from workshops.models import Enrollment

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

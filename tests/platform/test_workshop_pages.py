"""Home, joining, the workshop page, downloads and workshop management."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from workshops import folders
from workshops.models import Enrollment, Workshop

pytestmark = pytest.mark.django_db


def test_home_lists_my_workshops_and_join_form(participant_client, workshop):
    page = participant_client.get(reverse("home")).content.decode()
    assert workshop.title in page
    assert 'for="id_join_code"' in page


def test_join_by_code(client, workshop, other_workshop):
    user = User.objects.create_user("joiner", password="x-pass-12345")
    client.force_login(user)
    bad = client.post(reverse("workshop-join"), {"join_code": "ZZZZZZZZ"})
    assert bad.status_code == 200
    assert "No workshop has that join code" in bad.content.decode()
    assert not Enrollment.objects.filter(user=user).exists()
    ok = client.post(reverse("workshop-join"), {"join_code": workshop.join_code})
    assert ok.status_code == 302
    assert Enrollment.objects.filter(user=user, workshop=workshop).exists()


def test_invite_link(client, workshop):
    link = reverse("workshop-join-link", args=[workshop.join_code])
    anonymous = client.get(link).content.decode()
    assert f"?code={workshop.join_code}" in anonymous
    user = User.objects.create_user("joiner", password="x-pass-12345")
    client.force_login(user)
    assert client.get(link).status_code == 200
    assert not Enrollment.objects.filter(user=user).exists()  # GET changes nothing
    assert client.post(link).status_code == 302
    assert Enrollment.objects.filter(user=user, workshop=workshop).exists()
    assert (
        client.get(reverse("workshop-join-link", args=["BADCODE1"])).status_code == 404
    )


def test_workshop_page_shows_agenda_and_my_status(
    participant_client, participant, workshop, cnn, make_graded, make_submission
):
    make_graded(participant, cnn, score=77.5)
    mlp = workshop.assignments.get(slug="mlp")
    make_submission(participant, mlp)
    transfer = workshop.assignments.get(slug="transfer")
    transfer.released = False
    transfer.save()
    page = participant_client.get(workshop.get_absolute_url()).content.decode()
    assert "Neurons, layers and gradient descent" in page
    assert "77.5" in page and "Passed" in page and "Running" in page
    assert transfer.title not in page
    hidden = participant_client.get(transfer.get_absolute_url())
    assert hidden.status_code == 404


def test_assignment_cards_do_not_label_hello_a_perceptron(
    participant_client, instructor_client, workshop
):
    """A card says when an assignment is due, closed or unreleased, not the
    grader's kind, which repeated each title and called assignment 0 (a
    softmax regression) a multilayer perceptron."""
    page = participant_client.get(workshop.get_absolute_url()).content.decode()
    assert "Multilayer perceptron" not in page
    transfer = workshop.assignments.get(slug="transfer")
    transfer.released = False
    transfer.save()
    page = instructor_client.get(workshop.get_absolute_url()).content.decode()
    assert "Not released yet." in page


def test_agenda_links_each_block_to_its_notes_or_assignment(
    participant_client, workshop
):
    """A hands-on block opens its assignment and a theory block its notes; an
    unreleased assignment's block stays plain text."""
    transfer = workshop.assignments.get(slug="transfer")
    transfer.released = False
    transfer.save()
    page = participant_client.get(workshop.get_absolute_url()).content.decode()
    agenda = page[page.index('class="agenda"') :]
    mlp = workshop.assignments.get(slug="mlp")
    assert f'<a href="{mlp.get_absolute_url()}">Assignment 1: a multilayer' in agenda
    neurons = reverse("workshop-note", args=[workshop.slug, "neurons"])
    assert f'<a href="{neurons}">Neurons, layers and gradient descent</a>' in agenda
    assert transfer.get_absolute_url() not in agenda
    assert "Assignment 3: transfer learning" in agenda


def test_downloads_only_for_members(
    participant_client, client, workshop, other_instructor
):
    transfer = workshop.assignments.get(slug="transfer")
    for what in ("starter", "train", "base"):
        url = reverse("assignment-download", args=[workshop.slug, "transfer", what])
        response = participant_client.get(url)
        assert response.status_code == 200, what
        assert "attachment" in response["Content-Disposition"]
    assert folders.assignment_hidden_dir(transfer.pk).joinpath("test.npz").is_file()
    for what in ("hidden", "test", "../hidden/test.npz"):
        url = f"/w/{workshop.slug}/a/transfer/download/{what}/"
        assert participant_client.get(url).status_code == 404
    client.force_login(other_instructor)
    url = reverse("assignment-download", args=[workshop.slug, "transfer", "train"])
    assert client.get(url).status_code == 404


def test_manage_release_close_and_archive(instructor_client, workshop, cnn):
    url = reverse("workshop-manage", args=[workshop.slug])
    assert instructor_client.get(url).status_code == 200
    instructor_client.post(url, {"action": "hide", "assignment": cnn.pk})
    instructor_client.post(url, {"action": "close", "assignment": cnn.pk})
    cnn.refresh_from_db()
    assert not cnn.released and cnn.closed
    instructor_client.post(url, {"action": "archive"})
    workshop.refresh_from_db()
    assert workshop.archived
    refused = instructor_client.post(
        url, {"action": "release", "assignment": cnn.pk}, follow=True
    )
    assert "archived and read-only" in refused.content.decode()
    cnn.refresh_from_db()
    assert not cnn.released
    export = instructor_client.get(reverse("export-grades", args=[workshop.slug]))
    assert export.status_code == 200


def test_manage_details_and_agenda(instructor_client, workshop):
    url = reverse("workshop-manage", args=[workshop.slug])
    bad = instructor_client.post(
        url,
        {
            "action": "details",
            "title": "DL",
            "description": "",
            "agenda_text": "9am theory stuff",
        },
    )
    assert bad.status_code == 400
    assert "Line 1 should read like" in bad.content.decode()
    workshop.refresh_from_db()
    assert workshop.title == "Deep Learning 101"
    ok = instructor_client.post(
        url,
        {
            "action": "details",
            "title": "DL Friday",
            "description": "Bring a laptop",
            "starts_at": "2030-05-03T09:00",
            "ends_at": "2030-05-03T16:00",
            "agenda_text": "09:00-10:00 | theory | Intro\n10:00-11:00 | hands-on | MLP",
        },
    )
    assert ok.status_code == 302
    workshop.refresh_from_db()
    assert workshop.title == "DL Friday"
    assert workshop.agenda[1] == {
        "start": "10:00",
        "end": "11:00",
        "kind": "hands-on",
        "title": "MLP",
    }
    dates = instructor_client.post(
        url,
        {
            "action": "details",
            "title": "DL",
            "description": "",
            "starts_at": "2030-05-03T09:00",
            "ends_at": "2030-05-03T08:00",
        },
    )
    assert "The end must come after the start" in dates.content.decode()


def test_roster_import(instructor_client, workshop):
    url = reverse("workshop-manage", args=[workshop.slug])
    bad = instructor_client.post(
        url,
        {
            "action": "roster",
            "roster_text": "username,email\nbob,bob@x.org\nno spaces!,x",
        },
    )
    assert bad.status_code == 400
    assert "Line 3" in bad.content.decode()
    assert not User.objects.filter(username="bob").exists()
    ok = instructor_client.post(
        url,
        {"action": "roster", "roster_text": "username,email\nbob,bob@x.org\ncarol,"},
    )
    assert ok.status_code == 302
    bob = User.objects.get(username="bob")
    assert not bob.has_usable_password()
    assert Enrollment.objects.filter(workshop=workshop, user=bob, active=True).exists()


def test_co_instructor_and_remove_participant(
    instructor_client, workshop, participant, cnn, make_graded
):
    submission = make_graded(participant, cnn)
    url = reverse("workshop-manage", args=[workshop.slug])
    bad = instructor_client.post(url, {"action": "instructor", "username": "nobody"})
    assert "No user is called “nobody”" in bad.content.decode()
    User.objects.create_user("helper")
    instructor_client.post(url, {"action": "instructor", "username": "helper"})
    assert Enrollment.objects.get(user__username="helper").role == "instructor"
    enrollment = Enrollment.objects.get(user=participant, workshop=workshop)
    instructor_client.post(url, {"action": "remove", "enrollment": enrollment.pk})
    enrollment.refresh_from_db()
    assert not enrollment.active
    submission.refresh_from_db()
    assert submission.current_grade is not None


def test_assignment_settings(instructor_client, workshop, cnn):
    url = reverse("assignment-settings", args=[workshop.slug, "cnn"])
    assert instructor_client.get(url).status_code == 200
    bad = instructor_client.post(
        url, {"daily_limit": 0, "score_policy": "best", "released": "on"}
    )
    assert bad.status_code == 400
    assert "Allow at least one submission a day" in bad.content.decode()
    for value in ("0", "11", "two"):
        refused = instructor_client.post(
            url,
            {
                "daily_limit": 5,
                "score_policy": "best",
                "released": "on",
                "final_limit": value,
            },
        )
        assert refused.status_code == 400
        form = refused.context["form"]
        assert list(form.errors) == ["final_limit"], (value, form.errors)
    cnn.refresh_from_db()
    assert cnn.final_limit == 2
    cnn.refresh_from_db()
    assert cnn.daily_limit == 20
    ok = instructor_client.post(
        url,
        {
            "daily_limit": 5,
            "score_policy": "last",
            "released": "on",
            "reveal_private": "on",
            "deadline": "2030-01-01T12:00",
            "final_limit": 3,
        },
    )
    assert ok.status_code == 302
    cnn.refresh_from_db()
    assert (cnn.daily_limit, cnn.score_policy, cnn.reveal_private) == (5, "last", True)
    assert cnn.final_limit == 3
    assert cnn.deadline is not None


def test_create_workshop_from_pack(
    instructor_client, instructor, workshop, participant, client
):
    url = reverse("workshop-create")
    bad = instructor_client.post(
        url, {"title": "X", "slug": workshop.slug, "pack": "dl101"}
    )
    assert "exists; choose another" in bad.content.decode()
    ok = instructor_client.post(
        url,
        {
            "title": "DL101 Monday",
            "slug": "dl101-mon",
            "pack": "dl101",
            "starts_at": "2030-01-07T09:00",
        },
    )
    assert ok.status_code == 302, ok.content.decode()[:2000]
    created = Workshop.objects.get(slug="dl101-mon")
    assert created.title == "DL101 Monday" and created.assignments.count() == 4
    assert (
        Enrollment.objects.get(workshop=created, user=instructor).role == "instructor"
    )
    client.force_login(participant)
    assert client.get(url).status_code == 403

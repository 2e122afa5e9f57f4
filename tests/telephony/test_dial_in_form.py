"""The dial-in form and ``POST /api/v1/meetings/`` with ``"source": "dial_in"``: what is dialed,
the DTMF sequence shown before dialing, and a clear refusal of bad input."""
import json

import pytest

from meetings.models import ApiToken, Meeting
from telephony.models import DialIn, SummaryEmail

pytestmark = pytest.mark.django_db

ZOOM_US = "+1 646 558 8656"  # Zoom's published US dial-in number


@pytest.fixture
def token(alice, workspace):
    return ApiToken.issue(alice, workspace, "test")[1]


def start(client, token, **body):
    return client.post("/api/v1/meetings/", json.dumps({"source": "dial_in", **body}), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {token}")


def test_the_api_starts_a_pstn_dial_in_with_the_number_in_e164_and_the_conference_sequence(client, token):
    response = start(client, token, phone_number=ZOOM_US, conference_id="939 2930 0", passcode="123456",
                     title="Weekly sync", timezone="America/Los_Angeles", summary_emails=["ana@example.com"])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["source"] == "dial_in" and body["engine"] == "symbl" and body["title"] == "Weekly sync"
    assert body["dial_in"] == {"endpoint_type": "pstn", "phone_number": "+16465588656", "sip_uri": "",
                               "dtmf": ",,93929300#,,123456#", "timezone": "America/Los_Angeles",
                               "summary_emails": ["ana@example.com"]}
    dial_in = DialIn.objects.get()
    assert dial_in.symbl_phone_number == "16465588656"
    assert SummaryEmail.objects.get().recipients == ["ana@example.com"]


def test_the_api_starts_a_sip_dial_in(client, token):
    response = start(client, token, endpoint_type="sip", sip_uri="sip:93929300@zoomcrc.com", dtmf="")
    assert response.status_code == 201, response.content
    assert DialIn.objects.get().sip_uri == "sip:93929300@zoomcrc.com"


@pytest.mark.parametrize("body, said", [
    ({"phone_number": "call me maybe"}, "phone_number: “call me maybe” is not a phone number"),
    ({"phone_number": "+1 555"}, "phone_number: “+1 555” is not a valid phone number."),
    ({"endpoint_type": "sip", "sip_uri": "sip:1234@"}, "sip_uri: “sip:1234@” is not a SIP URI with a host"),
    ({"phone_number": ZOOM_US, "timezone": "Mars/Olympus_Mons"}, "timezone: “Mars/Olympus_Mons” is not an IANA time zone"),
    ({"phone_number": ZOOM_US, "dtmf": "123;456#"}, "dtmf: The DTMF sequence may hold only digits, *, #, ',' and w, not ;"),
    ({"phone_number": ZOOM_US, "conference_id": "93x"}, "conference_id: The DTMF sequence may hold only"),
    ({"phone_number": ZOOM_US, "summary_emails": "ana@example.com, not-an-address"},
     "summary_emails: “not-an-address” is not an e-mail address."),
])
def test_bad_input_is_a_400_naming_the_field_and_creates_nothing(client, token, body, said):
    response = start(client, token, **body)
    assert response.status_code == 400
    assert said in response.json()["error"]
    assert not Meeting.objects.exists()


def test_the_form_shows_the_sequence_before_dialing_then_dials(client, alice):
    client.force_login(alice)
    fields = {"endpoint_type": "pstn", "phone_number": ZOOM_US, "conference_id": "939-2930-0", "passcode": "123456",
              "timezone": "Europe/Paris", "title": "Board"}
    preview = client.post("/telephony/dial-in/new", fields)
    assert preview.status_code == 200
    page = preview.content.decode()
    assert 'id="preview-dtmf">,,93929300#,,123456#<' in page and "+16465588656" in page
    assert not Meeting.objects.exists()
    dialed = client.post("/telephony/dial-in/new", {**fields, "confirm": "dial"})
    meeting = Meeting.objects.get()
    assert dialed.status_code == 302 and dialed["Location"] == f"/telephony/dial-in/{meeting.pk}/"
    assert meeting.source == "dial_in" and meeting.title == "Board" and meeting.dial_in.dtmf == ",,93929300#,,123456#"
    assert client.get(dialed["Location"]).status_code == 200


def test_the_form_says_what_is_wrong(client, alice):
    client.force_login(alice)
    response = client.post("/telephony/dial-in/new", {"endpoint_type": "pstn", "phone_number": "12", "timezone": "Nowhere",
                                                      "dtmf": "9#x"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "is not a valid phone number" in page or "is not a phone number" in page
    assert "“Nowhere” is not an IANA time zone" in page
    assert "not x" in page
    assert not Meeting.objects.exists()


def test_a_reviewer_cannot_dial(client, dana):
    client.force_login(dana)
    assert client.get("/telephony/dial-in/new").status_code == 403

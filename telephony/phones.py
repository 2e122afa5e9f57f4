"""Phone numbers, SIP URIs and DTMF sequences as Parley accepts them.

Numbers are parsed and validated by ``phonenumbers`` (Google's libphonenumber) and kept in E.164
(``+14155550100``); Symbl's Telephony API takes them as digits without the ``+``
(https://docs.symbl.ai/docs/telephony/reference/reference).
"""
import re

import phonenumbers

# Digits, the keypad's * and #, and the pauses: ',' (Symbl: one pause) and 'w' (half a second,
# as dialers write it).
DTMF = re.compile(r"[0-9*#,w]*")
SIP_URI = re.compile(r"sips?:(?:(?P<user>[^@\s;?]+)@)?(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?"
                     r"(?P<rest>[;?][^\s]*)?")


class InvalidInput(ValueError):
    """Input Parley cannot dial; the message says what is wrong, for a form or a 400."""


def e164(text, region=None):
    """``text`` as an E.164 number (``+`` and up to 15 digits); ``region`` (``"US"``) for a
    number written without its country code. Raises :class:`InvalidInput`."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput("Enter a phone number.")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"“{text}” is not a phone number: write it with its country code, like +1 415 555 0100.") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"“{text}” is not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def sip_uri(text):
    """``text`` as a SIP URI (``sip:user@host[:port]``, RFC 3261 §19.1); raises :class:`InvalidInput`."""
    text = (text or "").strip()
    match = SIP_URI.fullmatch(text)
    if not match or not match.group("host") or match.group("host").strip(".-") == "":
        raise InvalidInput(f"“{text}” is not a SIP URI with a host, like sip:1234@sip.example.com.")
    if match.group("port") and not 0 < int(match.group("port")) < 65536:
        raise InvalidInput(f"“{text}” has an impossible port.")
    return text


def dtmf(text):
    """A DTMF sequence (digits, ``*``, ``#``, ``,`` and ``w``); raises :class:`InvalidInput`."""
    text = (text or "").strip()
    if not DTMF.fullmatch(text):
        bad = sorted(set(re.sub(r"[0-9*#,w]", "", text)))
        raise InvalidInput(f"The DTMF sequence may hold only digits, *, #, ',' and w, not {' '.join(bad)}.")
    return text


def conference_dtmf(meeting_id, passcode=""):
    """The sequence that joins a Zoom-style conference by phone: ``,,{meeting id}#,,{passcode}#``
    (a pause for the greeting, the id, a pause, the passcode); spaces and dashes in the id are
    dropped. Raises :class:`InvalidInput` for characters a keypad cannot send."""
    meeting_id = re.sub(r"[\s-]", "", meeting_id or "")
    passcode = re.sub(r"\s", "", passcode or "")
    if not meeting_id:
        return dtmf(passcode and f",,{passcode}#")
    return dtmf(f",,{meeting_id}#" + (f",,{passcode}#" if passcode else ""))

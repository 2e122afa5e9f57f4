"""PSTN and SIP dial-in sessions: Symbl's Telephony API dials the number (or SIP URI), plays the
DTMF sequence that joins the conference, and Parley relays the live conversation through the
Subscribe API (https://docs.symbl.ai/docs/telephony/reference/reference; ``shared/api-contracts.md`` §4)."""

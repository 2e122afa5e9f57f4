"""Dial-in sessions and Twilio calls (PSTN/SIP through Symbl's Telephony API, Twilio Media Streams)."""

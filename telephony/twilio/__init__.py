"""Twilio phone calls: the TwiML voice webhook, the Media Streams consumer and the session source.

A call reaches Parley as Twilio describes in https://www.twilio.com/docs/voice/media-streams:
Twilio POSTs the voice webhook (:mod:`.views`), Parley answers TwiML naming its Media Streams
socket, Twilio opens that socket (:mod:`.consumers`) and sends the call's audio as base64 mu-law
8 kHz frames; the consumer hands them over the channel layer (:mod:`.bridge`) to the session's
runner, where :class:`.source.TwilioSource` feeds them to the meeting's engine.
"""

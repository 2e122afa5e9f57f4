"""Between the Media Streams consumer (a Daphne process) and the session's runner (maybe another
process), over the channel layer.

The consumer cannot simply send audio to the runner as the microphone does: a call's first words
arrive the moment Twilio opens the socket, possibly before a runner has claimed the new meeting,
and group messages sent to nobody are lost. So the two shake hands:

* the runner's :class:`~.source.TwilioSource` joins :func:`runner_group` and announces
  ``twilio.listening`` to :func:`consumer_group`; it answers every ``twilio.hello`` the same way;
* the consumer joins :func:`consumer_group`, says ``twilio.hello`` to :func:`runner_group`, and
  buffers media until it hears ``twilio.listening``; then it sends everything, in order.

Messages to the runner: ``{"type": "twilio.media", "track": "inbound"|"outbound", "ulaw": bytes}``
(about 100 ms of mu-law a message, so one call is ~10-20 messages a second, well inside the
channel layer's capacity), ``{"type": "twilio.dtmf", "digit": str}``, ``{"type": "twilio.end",
"reason": str}`` after the last media. To the consumer: ``twilio.listening`` and ``twilio.hangup``
(the session was stopped from Parley: the consumer closes the socket, which ends a <Connect>).
"""


def runner_group(meeting_id):
    return f"twilio-call.{meeting_id}"


def consumer_group(meeting_id):
    return f"twilio-media.{meeting_id}"

from django import template

register = template.Library()


@register.filter
def clock(ms):
    """Milliseconds as m:ss (or h:mm:ss past an hour)."""
    if ms in (None, ""):
        return ""
    seconds = int(ms) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"

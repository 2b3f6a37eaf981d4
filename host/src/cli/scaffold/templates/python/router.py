"""{{name}}: an assay alert router, in Python.

Critical alerts go to the `pager` channel, warnings and errors to `chat`,
and info alerts nowhere. Config: {"pager": "pager", "chat": "chat"} names
the channels (`[[channel]]` entries of the host's config).
"""

import assay_plugin as assay


def _channels(config: dict) -> tuple[str, str]:
    pager, chat = config.get("pager", "pager"), config.get("chat", "chat")
    if not (isinstance(pager, str) and isinstance(chat, str)):
        raise assay.PluginError("pager and chat: expected channel names")
    return pager, chat


@assay.prepare
def check_config(config: dict) -> None:
    _channels(config)


@assay.router
def route(alert: assay.Alert, config: dict):
    pager, chat = _channels(config)
    if alert.severity == assay.Severity.INFO:
        return assay.suppress("info alerts notify no one")
    if alert.severity >= assay.Severity.CRITICAL:
        return assay.deliver(pager)
    return assay.deliver(chat)

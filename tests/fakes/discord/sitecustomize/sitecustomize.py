"""Points discord.py at the fake Discord in a bot started as a subprocess.

Put this directory on the child's ``PYTHONPATH`` and set ``WANBOT_FAKE_DISCORD_URL`` to
``FakeDiscord.url``; Python imports ``sitecustomize`` at start-up, before the bot's code.
It sets the same two knobs as ``tests.fakes.discord.point_discord_py_at`` and deliberately
does not import the test package (the child may not have the repo on its path). Without
the variable it does nothing, so it is harmless on a shared PYTHONPATH. Being a
``sitecustomize``, it shadows any other one further down the path (Debian's, for example).
"""

import os

_url = os.environ.get("WANBOT_FAKE_DISCORD_URL", "").rstrip("/")
if _url:
    import yarl
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    Route.BASE = f"{_url}/api/v10"
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(_url.replace("http://", "ws://", 1) + "/gateway")

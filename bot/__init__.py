"""wanbot: Discord /video → Wan2.1 on ComfyUI. The package owns everything that is not Discord."""

__version__ = "0.1.0"

"""TopSmile: scheduling backend for dental and medical clinics."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("topsmile")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

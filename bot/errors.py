"""Failures that mean "Slack could not be asked": connection trouble or a Slack error.

Listeners catch these around Web API calls that are courtesy (showing an outcome, a
refusal), so a Slack outage never loses intake or crashes a listener.
"""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError

SLACK_UNREACHABLE: tuple[type[BaseException], ...] = (aiohttp.ClientError, OSError,
                                                      TimeoutError)
SLACK_CALL_FAILED: tuple[type[BaseException], ...] = (SlackApiError, *SLACK_UNREACHABLE)

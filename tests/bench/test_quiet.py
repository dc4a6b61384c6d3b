import logging

import pytest

from marketplace.bench.quiet import loggers_quiet


def test_loggers_are_quiet_inside_and_as_they_were_after():
    chatty, unset = logging.getLogger("bench.chatty"), logging.getLogger("bench.unset")
    chatty.setLevel(logging.DEBUG)
    with loggers_quiet("bench.chatty", "bench.unset"):
        assert not chatty.isEnabledFor(logging.INFO)
        assert unset.level == logging.WARNING
    assert chatty.level == logging.DEBUG and unset.level == logging.NOTSET


def test_levels_come_back_when_the_run_fails():
    logger = logging.getLogger("bench.failing")
    with pytest.raises(RuntimeError), loggers_quiet("bench.failing"):
        raise RuntimeError("the benchmark broke")
    assert logger.level == logging.NOTSET

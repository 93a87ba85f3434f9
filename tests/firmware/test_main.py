"""The boot entry point's site configuration (main.apply_site_config), on both interpreters."""

import protocol
from commands import Commands
from config import Config
from fake_writer import FakeWriter
from fakes_board import FakeUART
from main import apply_site_config


class Site:
    """A stand-in for the deployed site_config module."""

    def __init__(self, settings=None, pin=None):
        self.SETTINGS = settings or {}
        self.PIN = pin


def test_site_settings_become_the_gates_defaults():
    config = apply_site_config(Config(), Site({"fever_threshold_cc": 3750, "buzzer_enabled": 0}))
    assert config.fever_threshold_cc == 3750
    assert config.buzzer_enabled == 0
    assert config.site_rejected == 0


def test_a_site_setting_out_of_range_is_skipped_and_counted():
    config = apply_site_config(Config(), Site({"fever_threshold_cc": 9999, "hysteresis_cc": 30}))
    assert config.fever_threshold_cc == Config().fever_threshold_cc
    assert config.hysteresis_cc == 30
    assert config.site_rejected == 1


def test_an_unknown_site_setting_is_skipped_and_counted():
    config = apply_site_config(Config(), Site({"no_such_setting": 1}))
    assert config.site_rejected == 1


def test_the_pin_provisioned_at_install_is_the_service_pin():
    config = apply_site_config(Config(), Site(pin=482193))
    commands = Commands(FakeUART(), FakeWriter(), config)
    assert commands.pin == 482193


def test_without_a_provisioned_pin_the_factory_pin_stays():
    config = apply_site_config(Config(), Site())
    assert Commands(FakeUART(), FakeWriter(), config).pin == protocol.PIN_DEFAULT

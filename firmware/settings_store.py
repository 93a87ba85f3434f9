"""SettingsStore: where the service link keeps what must survive a reboot, over persist.Persist.

The settings go into the Persist's config file (`save_config`/`load_config`, checked by
`Config.set`), the service values (PIN, calibration) into their own atomic store
`root/service`. Commands takes any object with these methods as its `settings_store`
(tests use a RAM one):

    load_config(config)      apply the persisted settings to config (Config.set checked)
    save_config(config)      persist every setting; raises OSError when it cannot
    load_service(values)     fill the list [pin, cal_offset_cc, cal_reference_cc, cal_day];
                             False when nothing was persisted
    save_service(values)     persist that list; raises OSError when it cannot
    load_lockout(values)     fill [wrong PINs in a row, locked]; False when nothing was persisted
    save_lockout(values)     persist that list (cmdauth.PinLock); raises OSError when it cannot
"""

from micropython import const

SERVICE_COUNT = const(4)  # [pin, cal_offset_cc, cal_reference_cc, cal_day]
LOCKOUT_COUNT = const(2)  # [wrong PINs in a row, locked]


class SettingsStore:
    def __init__(self, persist_obj):
        import persist

        self.persist = persist_obj
        self._defaults = persist.SOURCE_DEFAULTS
        self._service = persist.Store(persist_obj.root + "/service", SERVICE_COUNT)
        self._lockout = persist.Store(persist_obj.root + "/lockout", LOCKOUT_COUNT)
        self.rejected = 0

    def load_config(self, config):
        source = self.persist.load_config(config)
        self.rejected = self.persist.config_rejected
        return source

    def save_config(self, config):
        return self.persist.save_config(config)

    def load_service(self, values):
        if self._service.load() == self._defaults:
            return False
        for i in range(SERVICE_COUNT):
            values[i] = self._service.values[i]
        return True

    def save_service(self, values):
        for i in range(SERVICE_COUNT):
            self._service.values[i] = values[i]
        return self._service.commit()

    def load_lockout(self, values):
        if self._lockout.load() == self._defaults:
            return False
        for i in range(LOCKOUT_COUNT):
            values[i] = self._lockout.values[i]
        return True

    def save_lockout(self, values):
        for i in range(LOCKOUT_COUNT):
            self._lockout.values[i] = values[i]
        return self._lockout.commit()

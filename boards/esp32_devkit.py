"""ESP32 DevKitC gate controller: pins, buses and polarities.

MLX90614 on I2C0 (GPIO21 SDA, GPIO22 SCL, 100 kHz, external 4.7 kohm pull-ups). Beam A on
GPIO34, beam B on GPIO35: input-only pins without internal pull-ups, so the receivers need
external 10 kohm pull-ups; active low. Pin IRQs on the ESP32 are soft (latency up to
milliseconds); edges are stamped in the handler, so debounce still holds. Tank switch on GPIO27
(0 = water present). Pump relay module on GPIO26, active low. Buzzer on GPIO25, active high.
Records on UART2 (GPIO17 TX, GPIO16 RX) at 115200 8N1. Several ESP32 I2C cores broke the
repeated start the MLX90614 needs: use MicroPython 1.20 or newer.
"""

from mcu_board import McuBoard


class Pins:
    NAME = "esp32_devkit"
    I2C_ID = 0
    SDA = 21
    SCL = 22
    BEAM_A = 34
    BEAM_B = 35
    BEAM_BLOCKED = 0
    BEAM_PULL_UP = False
    TANK = 27
    TANK_OK = 0
    PUMP = 26
    PUMP_ACTIVE_LOW = True
    BUZZER = 25
    UART_ID = 2
    UART_TX = 17
    UART_RX = 16
    WDT_MAX_MS = 60000


def make_board():
    return McuBoard(Pins)

"""Raspberry Pi Pico (RP2040) gate controller: pins, buses and polarities.

MLX90614 on I2C0 (GP4 SDA, GP5 SCL, 100 kHz, 4.7 kohm pull-ups to 3V3). Beam A (entrance) on
GP14, beam B (exit) on GP15: open-collector receivers, active low, internal pull-ups; rp2 hard
IRQs take 20..25 us. Tank level switch on GP13 (closed = water, so 0 = water present). Pump relay
driver on GP16 (active high), active buzzer on GP17. Records on UART0 (GP0 TX, GP1 RX) at
115200 8N1. Watchdog at most 8.3 s.
"""

from mcu_board import McuBoard


class Pins:
    NAME = "rp2_pico"
    I2C_ID = 0
    SDA = 4
    SCL = 5
    BEAM_A = 14
    BEAM_B = 15
    BEAM_BLOCKED = 0
    BEAM_PULL_UP = True
    TANK = 13
    TANK_OK = 0
    PUMP = 16
    PUMP_ACTIVE_LOW = False
    BUZZER = 17
    UART_ID = 0
    UART_TX = 0
    UART_RX = 1
    WDT_MAX_MS = 8300


def make_board():
    return McuBoard(Pins)

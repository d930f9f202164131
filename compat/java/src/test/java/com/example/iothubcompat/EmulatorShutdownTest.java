package com.example.iothubcompat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/** Runs after every other class (see junit-platform.properties): SIGTERM ends the emulator with status 0. */
@Order(Integer.MAX_VALUE)
class EmulatorShutdownTest {
    @Test
    void emulatorExitsWithStatusZeroOnSigterm() throws Exception {
        assertTrue(Emulator.started(), "no test class started the emulator before this one");
        Emulator emulator = Emulator.get();
        Integer status = emulator.stop();
        assertEquals(Integer.valueOf(0), status,
                "exit status after SIGTERM (null: it did not stop within 15 s); log " + emulator.logPath()
                        + ":\n" + emulator.logTail(40));
    }
}

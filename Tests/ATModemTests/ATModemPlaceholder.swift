// Tests of ATModem go here.
import Testing

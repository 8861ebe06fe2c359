// Tests of SerialConsole go here.
import Testing

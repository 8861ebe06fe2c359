// Tests of PowerControl go here.
import Testing

// Tests of OOBAgent go here.
import Testing

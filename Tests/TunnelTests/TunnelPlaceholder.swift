// Tests of Tunnel go here.
import Testing

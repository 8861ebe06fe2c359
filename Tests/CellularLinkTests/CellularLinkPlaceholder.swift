// Tests of CellularLink go here.
import Testing

package testenv

// quietLogger drops the Temporal SDK's client logs in tests (set PAYORCH_TEST_VERBOSE to see the server's).
type quietLogger struct{}

func (quietLogger) Debug(string, ...interface{}) {}
func (quietLogger) Info(string, ...interface{})  {}
func (quietLogger) Warn(string, ...interface{})  {}
func (quietLogger) Error(string, ...interface{}) {}

package media

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// raisePriority gives the calling goroutine a thread of its own scheduled
// ahead of ordinary threads, if the process may: SCHED_FIFO, else nice -20.
func raisePriority() string {
	runtime.LockOSThread()
	tid := unix.Gettid()
	if err := schedSetFIFO(tid, 10); err == nil {
		return "fifo"
	}
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, -20); err == nil {
		return "nice"
	}
	return ""
}

func schedSetFIFO(tid, prio int) error {
	param := struct{ prio int32 }{int32(prio)}
	_, _, errno := unix.RawSyscall(unix.SYS_SCHED_SETSCHEDULER, uintptr(tid), 1 /* SCHED_FIFO */, uintptrOf(&param))
	if errno != 0 {
		return errno
	}
	return nil
}

func uintptrOf(p *struct{ prio int32 }) uintptr { return uintptr(unsafe.Pointer(p)) }

using System.Runtime.InteropServices;

namespace OspBridge.Net.IO;

/// <summary>
/// The system clock with timers that fire on the process's epoll thread (<see cref="EpollReadiness"/>): each timer is a
/// Linux <c>timerfd</c> (CLOCK_MONOTONIC, nanosecond resolution) registered with the same epoll instance as the
/// sockets that receive on that thread (<see cref="UdpSocketOptions.ReceiveOnIoThread"/>). A loop whose datagrams
/// are handled there then also handles its deadlines there: no runtime timer thread, no thread-pool hop, and no
/// whole-millisecond rounding (issue 14). Callbacks run on the epoll thread, so they must be short and never block —
/// <see cref="CoreLoop{TEvent}"/>'s only queues a tick and runs the pass. Where epoll or timerfd is unavailable,
/// <see cref="TryGet"/> returns null and callers keep <see cref="TimeProvider.System"/>.
/// </summary>
internal sealed partial class EpollTimeProvider : TimeProvider
{
    private static readonly Lazy<EpollTimeProvider?> Shared = new(() =>
        EpollReadiness.IsSupported && Environment.GetEnvironmentVariable("OSPBRIDGE_EPOLL_TIMER") != "0" ? new EpollTimeProvider() : null);

    private EpollTimeProvider() { }

    /// <summary>The provider, or null where timers cannot live on the epoll thread.</summary>
    public static EpollTimeProvider? TryGet() => Shared.Value;

    /// <inheritdoc/>
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = EpollTimer.TryCreate(callback, state);
        if (timer is null) return System.CreateTimer(callback, state, dueTime, period); // out of descriptors: the runtime's timer
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>One timerfd on the epoll thread.</summary>
    private sealed unsafe partial class EpollTimer : ITimer, EpollReadiness.ITarget
    {
        private const int CLOCK_MONOTONIC = 1;
        private const int TFD_NONBLOCK = 0x800;
        private const int TFD_CLOEXEC = 0x80000;

        private readonly TimerCallback _callback;
        private readonly object? _state;
        private readonly object _gate = new();
        private int _fd;
        private long _id;
        private bool _disposed;

        private EpollTimer(TimerCallback callback, object? state, int fd)
        {
            _callback = callback;
            _state = state;
            _fd = fd;
        }

        public static EpollTimer? TryCreate(TimerCallback callback, object? state)
        {
            int fd = TimerFdCreate(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
            if (fd < 0) return null;
            var t = new EpollTimer(callback, state, fd);
            if (EpollReadiness.TryAdd(fd, t) is not long id)
            {
                _ = Close(fd);
                return null;
            }
            t._id = id;
            return t;
        }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            var spec = new ITimerSpec { Interval = ToSpec(period), Value = ToSpec(dueTime) };
            // A due time of zero means "now" for a .NET timer but "disarm" for timerfd: fire after 1 ns instead.
            if (dueTime == TimeSpan.Zero) spec.Value = new TimeSpec { Nanoseconds = 1 };
            lock (_gate)
            {
                if (_disposed) return false;
                return TimerFdSetTime(_fd, 0, &spec, null) == 0;
            }
        }

        /// <summary>A timerfd time; infinite (or negative) is zero, which timerfd reads as "disarmed" / "no period".</summary>
        private static TimeSpec ToSpec(TimeSpan t)
        {
            if (t == Timeout.InfiniteTimeSpan || t < TimeSpan.Zero) return default;
            long ticks = t.Ticks;
            return new TimeSpec { Seconds = ticks / TimeSpan.TicksPerSecond, Nanoseconds = ticks % TimeSpan.TicksPerSecond * 100 };
        }

        void EpollReadiness.ITarget.OnReady()
        {
            ulong expirations;
            lock (_gate)
            {
                if (_disposed) return;
                if (Read(_fd, &expirations, 8) != 8) return; // re-armed or disarmed since it fired: nothing due
            }
            _callback(_state);
        }

        public void Dispose()
        {
            int fd;
            lock (_gate)
            {
                if (_disposed) return;
                _disposed = true;
                fd = _fd;
                _fd = -1;
            }
            EpollReadiness.Remove(_id, fd);
            _ = Close(fd);
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct TimeSpec
        {
            public long Seconds;
            public long Nanoseconds;
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct ITimerSpec
        {
            public TimeSpec Interval;
            public TimeSpec Value;
        }

        [LibraryImport("libc", EntryPoint = "timerfd_create", SetLastError = true)]
        private static partial int TimerFdCreate(int clockId, int flags);

        [LibraryImport("libc", EntryPoint = "timerfd_settime", SetLastError = true)]
        private static partial int TimerFdSetTime(int fd, int flags, ITimerSpec* newValue, ITimerSpec* oldValue);

        [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
        private static partial nint Read(int fd, void* buffer, nint count);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        private static partial int Close(int fd);
    }
}

using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace OspBridge.Net.IO;

/// <summary>
/// Readability notification for batched UDP sockets without a system call per wait: one process-wide epoll
/// instance (edge-triggered registrations) served by one background thread that does nothing but
/// <c>epoll_wait</c> and signal. A receiver reads <see cref="Registration.Sequence"/>, drains the socket with
/// <c>recvmmsg(MSG_DONTWAIT)</c> until <c>EAGAIN</c>, then awaits <see cref="Registration.WaitAsync"/> with the
/// sequence it read: any datagram that arrived after that read bumped the sequence, so no wake-up is lost.
/// Replaces the zero-byte <c>MSG_PEEK</c> receive the socket used to wait with (two extra system calls per wait:
/// the runtime tries the peek before and after its own epoll notification). x86-64 and arm64 Linux only.
/// </summary>
internal static unsafe partial class EpollReadiness
{
    private const int EPOLL_CLOEXEC = 0x80000;
    private const int EPOLL_CTL_ADD = 1;
    private const int EPOLL_CTL_DEL = 2;
    private const uint EPOLLIN = 0x001;
    private const uint EPOLLET = 1u << 31;
    private const int EINTR = 4;
    private const int MaxEvents = 64;

    private static readonly object Gate = new();
    private static readonly ConcurrentDictionary<long, ITarget> Registrations = new();
    private static int _epfd = -1;
    private static bool _failed;
    private static long _nextId;

    /// <summary>Wake-ups delivered by the epoll thread (for tests and benches).</summary>
    internal static long Wakeups;

    /// <summary>True where the epoll structures are known (64-bit Linux on x86-64 or arm64).</summary>
    public static bool IsSupported => OperatingSystem.IsLinux() && (RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64);

    /// <summary>Registers <paramref name="fd"/> for edge-triggered readability; null when epoll is unavailable (caller falls back).</summary>
    /// <param name="fd">The socket's descriptor.</param>
    /// <param name="inline">The waiter's continuation runs on the epoll thread itself (see <see cref="UdpSocketOptions.ReceiveOnIoThread"/>).</param>
    public static Registration? TryRegister(int fd, bool inline = false)
    {
        var reg = new Registration(fd, inline);
        return TryAdd(fd, reg) is long id ? reg.WithId(id) : null;
    }

    /// <summary>Adds <paramref name="target"/> for edge-triggered readability of <paramref name="fd"/>; its id, or null when epoll is unavailable.</summary>
    internal static long? TryAdd(int fd, ITarget target)
    {
        if (!IsSupported) return null;
        int epfd = EnsureStarted();
        if (epfd < 0) return null;
        long id = Interlocked.Increment(ref _nextId);
        Registrations[id] = target;
        int r;
        if (RuntimeInformation.ProcessArchitecture == Architecture.X64)
        {
            var ev = new EpollEventX64 { Events = EPOLLIN | EPOLLET, Data = (ulong)id };
            r = EpollCtlX64(epfd, EPOLL_CTL_ADD, fd, &ev);
        }
        else
        {
            var ev = new EpollEvent { Events = EPOLLIN | EPOLLET, Data = (ulong)id };
            r = EpollCtl(epfd, EPOLL_CTL_ADD, fd, &ev);
        }
        if (r != 0)
        {
            Registrations.TryRemove(id, out _);
            return null;
        }
        return id;
    }

    /// <summary>Something the epoll thread notifies when its descriptor becomes readable.</summary>
    internal interface ITarget
    {
        /// <summary>On the epoll thread: the descriptor became readable.</summary>
        void OnReady();
    }

    private static int EnsureStarted()
    {
        if (Volatile.Read(ref _epfd) >= 0) return _epfd;
        lock (Gate)
        {
            if (_epfd >= 0 || _failed) return _epfd;
            int epfd = EpollCreate1(EPOLL_CLOEXEC);
            if (epfd < 0) { _failed = true; return -1; }
            var thread = new Thread(() => Run(epfd)) { IsBackground = true, Name = "ospbridge-udp-epoll" };
            thread.Start();
            Volatile.Write(ref _epfd, epfd);
            return epfd;
        }
    }

    /// <summary>
    /// Upper bound of the epoll thread's poll before it blocks, in microseconds (<c>OSPBRIDGE_EPOLL_SPIN_US</c>; 0, the
    /// default, turns polling off). Why it exists: on a VM whose idle vCPUs halt at once (this project's CI: cpuidle
    /// haltpoll with <c>guest_halt_poll_ns=0</c>), a datagram that arrives while the thread sleeps costs a vCPU wake-up
    /// (an IPI and a VM exit) before it is read. Why it is off: two quiet A/Bs (session 16, 50 µs) showed no throughput
    /// or CPU difference on PeerFetch over LP2P QUIC. Kept for experiments; see docs/architecture.md.
    /// </summary>
    internal static readonly int MaxSpinMicroseconds =
        int.TryParse(Environment.GetEnvironmentVariable("OSPBRIDGE_EPOLL_SPIN_US"), out int us) && us is >= 0 and <= 1000 ? us : 0;

    /// <summary>Polls that found a datagram (the wake-up they saved) / polls that ran out and blocked (tests and benches).</summary>
    internal static long SpinHits, SpinMisses;

    private static void Run(int epfd)
    {
        bool x64 = RuntimeInformation.ProcessArchitecture == Architecture.X64;
        var eventsX64 = new EpollEventX64[MaxEvents];
        var events = new EpollEvent[MaxEvents];
        var spin = new SpinBudget(MaxSpinMicroseconds);
        while (true)
        {
            int n = 0;
            // Poll first (no timeout) while the budget says datagrams come closer together than it: the thread keeps its
            // vCPU instead of halting it; only then block.
            long budget = spin.Ticks;
            if (budget > 0)
            {
                long until = System.Diagnostics.Stopwatch.GetTimestamp() + budget;
                do
                {
                    n = Wait(epfd, x64, eventsX64, events, 0);
                    if (n != 0) break;
                    Thread.SpinWait(20);
                }
                while (System.Diagnostics.Stopwatch.GetTimestamp() < until);
                if (n > 0) Interlocked.Increment(ref SpinHits); // the budget stays
                else if (n == 0) Interlocked.Increment(ref SpinMisses);
            }
            if (n == 0)
            {
                long blockedAt = System.Diagnostics.Stopwatch.GetTimestamp();
                n = Wait(epfd, x64, eventsX64, events, -1);
                spin.OnBlocked(System.Diagnostics.Stopwatch.GetTimestamp() - blockedAt, budget > 0);
            }
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == EINTR) continue;
                return; // epoll fd gone: nothing more to deliver
            }
            for (int i = 0; i < n; i++)
            {
                long id = (long)(x64 ? eventsX64[i].Data : events[i].Data);
                if (Registrations.TryGetValue(id, out var target)) { target.OnReady(); Interlocked.Increment(ref Wakeups); }
            }
        }
    }

    private static int Wait(int epfd, bool x64, EpollEventX64[] eventsX64, EpollEvent[] events, int timeout)
    {
        fixed (EpollEventX64* ex = eventsX64)
        fixed (EpollEvent* e = events)
            return x64 ? EpollWaitX64(epfd, ex, MaxEvents, timeout) : EpollWait(epfd, e, MaxEvents, timeout);
    }

    /// <summary>Removes a registration before its descriptor closes (so a reused descriptor number is never confused with it).</summary>
    internal static void Remove(long id, int fd)
    {
        if (!Registrations.TryRemove(id, out _)) return;
        int epfd = Volatile.Read(ref _epfd);
        if (epfd < 0) return;
        if (RuntimeInformation.ProcessArchitecture == Architecture.X64) { var ev = default(EpollEventX64); _ = EpollCtlX64(epfd, EPOLL_CTL_DEL, fd, &ev); }
        else { var ev = default(EpollEvent); _ = EpollCtl(epfd, EPOLL_CTL_DEL, fd, &ev); }
    }

    /// <summary>One socket's readiness: a sequence bumped per epoll event and one reusable waiter.</summary>
    internal sealed class Registration : IValueTaskSource<bool>, ITarget
    {
        private readonly object _lock = new();
        private ManualResetValueTaskSourceCore<bool> _core;
        private int _sequence;
        private bool _waiting;
        private bool _closed;
        private CancellationToken _token;
        private CancellationTokenRegistration _cancel;

        internal Registration(int fd, bool inline)
        {
            Fd = fd;
            _core = new() { RunContinuationsAsynchronously = !inline };
        }

        internal Registration WithId(long id)
        {
            Id = id;
            return this;
        }

        internal long Id { get; private set; }
        internal int Fd { get; }

        /// <summary>Read before draining the socket; pass to <see cref="WaitAsync"/> after <c>EAGAIN</c>.</summary>
        public int Sequence => Volatile.Read(ref _sequence);

        /// <summary>Completes when an event arrived after <paramref name="sequence"/> was read (at once if one did already).</summary>
        public ValueTask<bool> WaitAsync(int sequence, CancellationToken cancellationToken)
        {
            short version;
            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_closed, this);
                if (_sequence != sequence) return new ValueTask<bool>(true);
                if (_waiting) throw new InvalidOperationException("one waiter at a time");
                _core.Reset();
                version = _core.Version;
                _waiting = true;
                _token = cancellationToken;
                // registered under the lock, so the epoll thread's Complete never sees a half-made registration (and
                // never misses one); an already-canceled token completes the wait right here (Monitor is re-entrant)
                if (cancellationToken.CanBeCanceled)
                {
                    var registration = cancellationToken.UnsafeRegister(static s => ((Registration)s!).Complete(canceled: true), this);
                    if (_waiting) _cancel = registration;
                }
            }
            return new ValueTask<bool>(this, version);
        }

        void ITarget.OnReady() => Signal();

        internal void Signal()
        {
            lock (_lock) _sequence++;
            Complete(canceled: false);
        }

        private void Complete(bool canceled)
        {
            CancellationToken token;
            CancellationTokenRegistration cancel;
            lock (_lock)
            {
                if (!_waiting) return;
                _waiting = false;
                token = _token;
                _token = default;
                cancel = _cancel;
                _cancel = default;
            }
            cancel.Unregister();
            if (canceled) _core.SetException(new OperationCanceledException(token));
            else if (_closed) _core.SetException(new ObjectDisposedException(nameof(BatchedUdpSocket)));
            else _core.SetResult(true);
        }

        /// <summary>Unregisters from epoll and fails a pending wait with <see cref="ObjectDisposedException"/>.</summary>
        public void Close()
        {
            lock (_lock)
            {
                if (_closed) return;
                _closed = true;
            }
            Remove(Id, Fd);
            Complete(canceled: false);
        }

        bool IValueTaskSource<bool>.GetResult(short token) => _core.GetResult(token);
        ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _core.GetStatus(token);
        void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }

    /// <summary>struct epoll_event on x86-64 (packed: 12 bytes).</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    private struct EpollEventX64
    {
        public uint Events;
        public ulong Data;
    }

    /// <summary>struct epoll_event elsewhere (natural alignment: 16 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    private static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int EpollCtlX64(int epfd, int op, int fd, EpollEventX64* ev);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int EpollCtl(int epfd, int op, int fd, EpollEvent* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    private static partial int EpollWaitX64(int epfd, EpollEventX64* events, int maxEvents, int timeout);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    private static partial int EpollWait(int epfd, EpollEvent* events, int maxEvents, int timeout);
}

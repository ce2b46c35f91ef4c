using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Runtime.InteropServices;

namespace OspBridge.Bench;

/// <summary>
/// GCAllocationTick sampler for the data-channel allocation bench (<c>alloc webrtc … types</c>): like
/// <see cref="QuicAllocationListener"/>, but it leaves out the ticks of the thread that runs this listener (the runtime
/// delivers its events on one dispatch thread; what the listener allocates there — the event args, their payload
/// arrays — was ≈ 20 B per datagram of the old listing, s13) and names each tick's allocating thread (the OS thread id:
/// the loop's epoll thread, the dispatcher's pool worker, the sender's task), so the listing shows the stack's own
/// allocations only. Linux (gettid); elsewhere nothing is left out.
/// </summary>
internal sealed class WebRtcAllocationSampler : EventListener
{
    private readonly ConcurrentDictionary<string, long> _bytesByType = new();
    private readonly ConcurrentDictionary<string, long> _poolEvents = new();
    private long _listenerThread = -1;
    private long _skipped;
    private volatile bool _enabled;

    [DllImport("libc", EntryPoint = "syscall")]
    private static extern long Syscall(long number);

    private static long CurrentOsThread() => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64 ? Syscall(186) : -2; // SYS_gettid

    public void Enable() => _enabled = true;

    public void Disable() => _enabled = false;

    /// <summary>Bytes of ticks raised on the listener's own thread (left out).</summary>
    public long SkippedBytes => Interlocked.Read(ref _skipped);

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)0x1); // GC keyword: AllocationTick
        else if (eventSource.Name == "System.Buffers.ArrayPoolEventSource")
            EnableEvents(eventSource, EventLevel.Informational);
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (_listenerThread == -1) _listenerThread = CurrentOsThread();
        if (!_enabled || eventData.EventName is null || eventData.Payload is null) return;
        if (eventData.EventSource.Name == "System.Buffers.ArrayPoolEventSource")
        {
            int sizeIndex = eventData.PayloadNames!.IndexOf("bufferSize");
            string size = sizeIndex >= 0 ? Convert.ToString(eventData.Payload[sizeIndex], CultureInfo.InvariantCulture) ?? "?" : "?";
            _poolEvents.AddOrUpdate($"{eventData.EventName}({size})", 1, (_, v) => v + 1);
            return;
        }
        if (!eventData.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal)) return;
        int typeIndex = eventData.PayloadNames!.IndexOf("TypeName");
        int amountIndex = eventData.PayloadNames.IndexOf("AllocationAmount64");
        if (typeIndex < 0) return;
        long amount = amountIndex >= 0 && eventData.Payload[amountIndex] is ulong a ? (long)a : 100_000;
        if (eventData.OSThreadId == _listenerThread || eventData.OSThreadId == CurrentOsThread())
        {
            Interlocked.Add(ref _skipped, amount);
            return;
        }
        string type = eventData.Payload[typeIndex] as string ?? "?";
        int objectSizeIndex = eventData.PayloadNames.IndexOf("ObjectSize");
        if (type.EndsWith("[]", StringComparison.Ordinal) && objectSizeIndex >= 0 && eventData.Payload[objectSizeIndex] is ulong objectSize)
            type = string.Create(CultureInfo.InvariantCulture, $"{type} ({objectSize} B object)");
        _bytesByType.AddOrUpdate(type + " @thread " + ThreadName(eventData.OSThreadId), amount, (_, v) => v + amount);
    }

    private static string ThreadName(long tid)
    {
        try { return tid.ToString(CultureInfo.InvariantCulture) + " " + File.ReadAllText($"/proc/self/task/{tid}/comm").Trim(); }
        catch (IOException) { return tid.ToString(CultureInfo.InvariantCulture); }
    }

    public IEnumerable<(string Event, long Count)> PoolEvents => _poolEvents.OrderByDescending(kv => kv.Value).Select(kv => (kv.Key, kv.Value));

    public IEnumerable<(string Type, long Bytes)> Top(int n) =>
        _bytesByType.OrderByDescending(kv => kv.Value).Take(n).Select(kv => (kv.Key, kv.Value));
}

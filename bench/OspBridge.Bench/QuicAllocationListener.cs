using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace OspBridge.Bench;

/// <summary>
/// In-process allocation sampler for the QUIC bench: listens to the runtime's GCAllocationTick events (one per
/// ~100 KB allocated, carrying the type of the object that crossed the threshold) and counts them by type, which
/// says which types make up the allocated bytes without an external profiler.
/// </summary>
internal sealed class QuicAllocationListener : EventListener
{
    private readonly ConcurrentDictionary<string, long> _bytesByType = new();
    private volatile bool _enabled;

    public void Enable() => _enabled = true;

    public void Disable() => _enabled = false;

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)0x1); // GC keyword: AllocationTick
        else if (eventSource.Name == "System.Buffers.ArrayPoolEventSource")
            EnableEvents(eventSource, EventLevel.Informational); // BufferAllocated / BufferDropped / BufferTrimmed (not the per-rent events)
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (!_enabled || eventData.EventName is null || eventData.Payload is null) return;
        if (eventData.EventSource.Name == "System.Buffers.ArrayPoolEventSource")
        {
            // ArrayPool<T>.Shared misses: an array allocated (pool empty or too large) or dropped (pool full) — named by size
            int sizeIndex = eventData.PayloadNames!.IndexOf("bufferSize");
            string size = sizeIndex >= 0 ? Convert.ToString(eventData.Payload[sizeIndex], System.Globalization.CultureInfo.InvariantCulture) ?? "?" : "?";
            _poolEvents.AddOrUpdate($"{eventData.EventName}({size})", 1, (_, v) => v + 1);
            return;
        }
        if (!eventData.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal)) return;
        int typeIndex = eventData.PayloadNames!.IndexOf("TypeName");
        int amountIndex = eventData.PayloadNames.IndexOf("AllocationAmount64");
        if (typeIndex < 0) return;
        string type = eventData.Payload[typeIndex] as string ?? "?";
        // Arrays: the size of the sampled object too (which pool or buffer it came from)
        int objectSizeIndex = eventData.PayloadNames.IndexOf("ObjectSize");
        if (type.EndsWith("[]", StringComparison.Ordinal) && objectSizeIndex >= 0 && eventData.Payload[objectSizeIndex] is ulong objectSize)
            type = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{type} ({objectSize} B object)");
        long amount = amountIndex >= 0 && eventData.Payload[amountIndex] is ulong a ? (long)a : 100_000;
        _bytesByType.AddOrUpdate(type, amount, (_, v) => v + amount);
    }

    private readonly ConcurrentDictionary<string, long> _poolEvents = new();

    /// <summary>ArrayPool&lt;byte&gt;.Shared events while enabled (BufferAllocated(size): a rent that missed the pool; BufferDropped: a return the pool did not keep).</summary>
    public IEnumerable<(string Event, long Count)> PoolEvents => _poolEvents.OrderByDescending(kv => kv.Value).Select(kv => (kv.Key, kv.Value));

    public IEnumerable<(string Type, long Bytes)> Top(int n) =>
        _bytesByType.OrderByDescending(kv => kv.Value).Take(n).Select(kv => (kv.Key, kv.Value));
}

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
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (!_enabled || eventData.EventName is null || !eventData.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || eventData.Payload is null) return;
        int typeIndex = eventData.PayloadNames!.IndexOf("TypeName");
        int amountIndex = eventData.PayloadNames.IndexOf("AllocationAmount64");
        if (typeIndex < 0) return;
        string type = eventData.Payload[typeIndex] as string ?? "?";
        long amount = amountIndex >= 0 && eventData.Payload[amountIndex] is ulong a ? (long)a : 100_000;
        _bytesByType.AddOrUpdate(type, amount, (_, v) => v + amount);
    }

    public IEnumerable<(string Type, long Bytes)> Top(int n) =>
        _bytesByType.OrderByDescending(kv => kv.Value).Take(n).Select(kv => (kv.Key, kv.Value));
}

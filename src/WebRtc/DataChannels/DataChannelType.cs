namespace OspBridge.WebRtc.DataChannels;

/// <summary>DCEP channel types (RFC 8832 §5.1); the high bit means unordered.</summary>
public enum DataChannelType : byte
{
    /// <summary>Reliable, ordered.</summary>
    Reliable = 0x00,
    /// <summary>Reliable, unordered.</summary>
    ReliableUnordered = 0x80,
    /// <summary>Partially reliable by retransmission count, ordered.</summary>
    PartialReliableRexmit = 0x01,
    /// <summary>Partially reliable by retransmission count, unordered.</summary>
    PartialReliableRexmitUnordered = 0x81,
    /// <summary>Partially reliable by lifetime (ms), ordered.</summary>
    PartialReliableTimed = 0x02,
    /// <summary>Partially reliable by lifetime (ms), unordered.</summary>
    PartialReliableTimedUnordered = 0x82,
}

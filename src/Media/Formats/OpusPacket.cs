namespace OspBridge.Media.Formats;

/// <summary>Opus packet facts from the TOC octet (RFC 6716 §3.1).</summary>
public static class OpusPacket
{
    /// <summary>
    /// The packet's duration in 48 kHz samples (frame size × frame count), or 0 if the packet is malformed (empty,
    /// code 3 without a count octet, or more than 120 ms).
    /// </summary>
    public static int GetSampleCount(ReadOnlySpan<byte> packet)
    {
        if (packet.IsEmpty)
            return 0;
        int config = packet[0] >> 3;
        int frameSize = config switch
        {
            < 12 => (config & 3) switch { 0 => 480, 1 => 960, 2 => 1920, _ => 2880 }, // SILK 10/20/40/60 ms
            < 16 => (config & 1) == 0 ? 480 : 960,                                                   // hybrid 10/20 ms
            _ => 120 << (config & 3),                                                                // CELT 2.5/5/10/20 ms
        };
        int frames = (packet[0] & 3) switch
        {
            0 => 1,
            1 or 2 => 2,
            _ => packet.Length < 2 ? 0 : packet[1] & 0x3F,
        };
        int total = frameSize * frames;
        return total is > 0 and <= 5760 ? total : 0;
    }
}

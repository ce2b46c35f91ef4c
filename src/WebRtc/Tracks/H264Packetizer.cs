namespace OspBridge.WebRtc.Tracks;

/// <summary>
/// RFC 6184 packetization-mode 1 sender side: each NAL unit of an Annex B access unit goes out as a single NAL unit
/// packet when it fits, else as FU-A fragments (§5.8). Used by <see cref="RTCRtpSender"/> until the shared
/// packetizers in src/WebRtc/Media (s4-rtp) replace it.
/// </summary>
internal static class H264Packetizer
{
    /// <summary>Calls <paramref name="emit"/>(payload, isLastOfAccessUnit) for every RTP payload of <paramref name="annexB"/>.</summary>
    public static void Packetize(ReadOnlySpan<byte> annexB, int maxPayload, Action<ReadOnlyMemory<byte>, bool> emit, byte[]? source = null)
    {
        ArgumentNullException.ThrowIfNull(emit);
        var nals = new List<(int Start, int Length)>();
        int i = 0;
        int start = -1;
        while (i + 2 < annexB.Length)
        {
            if (annexB[i] == 0 && annexB[i + 1] == 0 && annexB[i + 2] == 1)
            {
                if (start >= 0) nals.Add((start, TrimEnd(annexB, start, i)));
                i += 3;
                start = i;
                continue;
            }
            i++;
        }
        if (start >= 0 && start < annexB.Length) nals.Add((start, annexB.Length - start));
        else if (start < 0 && annexB.Length > 0) nals.Add((0, annexB.Length)); // no start code: one raw NAL unit
        nals.RemoveAll(n => n.Length <= 0);
        var data = source ?? annexB.ToArray();
        for (int n = 0; n < nals.Count; n++)
        {
            var (s, len) = nals[n];
            bool lastNal = n == nals.Count - 1;
            if (len <= maxPayload)
            {
                emit(data.AsMemory(s, len), lastNal);
                continue;
            }
            byte header = data[s];
            byte indicator = (byte)((header & 0xe0) | 28);
            int pos = s + 1, end = s + len;
            bool first = true;
            while (pos < end)
            {
                int chunk = Math.Min(maxPayload - 2, end - pos);
                bool last = pos + chunk == end;
                var p = new byte[chunk + 2];
                p[0] = indicator;
                p[1] = (byte)((first ? 0x80 : 0) | (last ? 0x40 : 0) | (header & 0x1f));
                data.AsSpan(pos, chunk).CopyTo(p.AsSpan(2));
                emit(p, last && lastNal);
                pos += chunk;
                first = false;
            }
        }
    }

    // a 4-byte start code leaves a trailing zero on the previous NAL unit (trailing_zero_8bits)
    private static int TrimEnd(ReadOnlySpan<byte> b, int start, int startCode)
    {
        int end = startCode;
        while (end > start && b[end - 1] == 0) end--;
        return end - start;
    }
}

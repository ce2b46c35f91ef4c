using OspBridge.Net.Dns;

namespace OspBridge.Net.Mdns;

/// <summary>Packs questions/records into as few mDNS datagrams as fit <see cref="MdnsConstants.MaxPacketSize"/>.</summary>
internal static class MdnsPacketBuilder
{
    /// <summary>
    /// Builds response packets: every answer is sent (split over several packets when needed); additional
    /// records go where there is room (dropped when not). Flags: QR|AA unless <paramref name="flags"/> given.
    /// </summary>
    public static List<byte[]> Responses(IReadOnlyList<DnsRecord> answers, IReadOnlyList<DnsRecord> additionals,
        ushort id = 0, ushort flags = DnsHeader.ResponseFlag | DnsHeader.AuthoritativeFlag, IReadOnlyList<DnsQuestion>? questions = null)
    {
        var packets = new List<byte[]>();
        int i = 0;
        do
        {
            var w = new DnsWriter(MdnsConstants.MaxPacketSize);
            w.WriteHeader(new DnsHeader(id, flags));
            int qd = 0, an = 0, ar = 0;
            if (questions is not null && packets.Count == 0)
                foreach (var q in questions)
                    if (w.TryWriteQuestion(q)) qd++;
            while (i < answers.Count && w.TryWriteRecord(answers[i])) { i++; an++; }
            if (an == 0 && i < answers.Count)
                throw new NetException(NetError.LimitExceeded, $"record {answers[i].Name} does not fit in one mDNS packet");
            if (i == answers.Count)
                foreach (var r in additionals)
                    if (w.TryWriteRecord(r)) ar++;
            w.PatchCounts(qd, an, 0, ar);
            packets.Add(w.ToArray());
        }
        while (i < answers.Count);
        return packets;
    }

    /// <summary>
    /// Builds query packets: all questions in the first packet, known answers spread with the TC bit set on
    /// every packet but the last (RFC 6762 §7.2). Probes put their records in the authority section.
    /// </summary>
    public static List<byte[]> Queries(IReadOnlyList<DnsQuestion> questions, IReadOnlyList<DnsRecord> knownAnswers, IReadOnlyList<DnsRecord>? authorities = null)
    {
        var packets = new List<byte[]>();
        int k = 0;
        bool first = true;
        while (first || k < knownAnswers.Count)
        {
            var w = new DnsWriter(MdnsConstants.MaxPacketSize);
            w.WriteHeader(new DnsHeader(0, 0));
            int qd = 0, an = 0, ns = 0;
            if (first)
            {
                foreach (var q in questions)
                    if (w.TryWriteQuestion(q)) qd++;
            }
            int start = k;
            while (k < knownAnswers.Count && w.TryWriteRecord(knownAnswers[k])) { k++; an++; }
            if (first && authorities is not null)
                foreach (var r in authorities)
                    if (w.TryWriteRecord(r)) ns++;
            if (!first && k == start && k < knownAnswers.Count) k++; // skip a record that never fits
            bool more = k < knownAnswers.Count;
            w.PatchUInt16(2, more ? DnsHeader.TruncatedFlag : (ushort)0);
            w.PatchCounts(qd, an, ns, 0);
            packets.Add(w.ToArray());
            first = false;
        }
        return packets;
    }
}

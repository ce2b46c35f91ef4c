namespace OspBridge.Net.Dns;

// RFC 1035 §4.1.1 header (12 octets):
//  0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
// |                      ID                       |
// |QR|   Opcode  |AA|TC|RD|RA| Z|AD|CD|   RCODE   |
// |                    QDCOUNT                    |
// |                    ANCOUNT                    |
// |                    NSCOUNT                    |
// |                    ARCOUNT                    |

/// <summary>The DNS message header fields other than the section counts.</summary>
public readonly record struct DnsHeader(ushort Id, ushort Flags)
{
    /// <summary>Header length on the wire.</summary>
    public const int Length = 12;

    /// <summary>QR bit: this is a response.</summary>
    public const ushort ResponseFlag = 0x8000;
    /// <summary>AA bit: authoritative answer (always set in mDNS responses).</summary>
    public const ushort AuthoritativeFlag = 0x0400;
    /// <summary>TC bit: truncated (in mDNS queries: more known answers follow).</summary>
    public const ushort TruncatedFlag = 0x0200;

    /// <summary>True for a response (QR = 1).</summary>
    public bool IsResponse => (Flags & ResponseFlag) != 0;

    /// <summary>The opcode (0 = standard query; mDNS ignores messages with any other).</summary>
    public int Opcode => (Flags >> 11) & 0xF;

    /// <summary>The response code (mDNS ignores messages with non-zero rcode).</summary>
    public int ResponseCode => Flags & 0xF;

    /// <summary>TC bit.</summary>
    public bool IsTruncated => (Flags & TruncatedFlag) != 0;
}

using System.Globalization;

namespace System.Net;

/// <summary>The two members of IPNetwork2 2.x's class that Makaretu.Dns.Multicast 0.27.0 calls (test-only stand-in).</summary>
public sealed class IPNetwork
{
    private readonly byte[] _prefix;
    private readonly int _bits;

    private IPNetwork(byte[] prefix, int bits)
    {
        _prefix = prefix;
        _bits = bits;
    }

    /// <summary>Parses CIDR notation ("169.254.0.0/16", "fe80::/10").</summary>
    public static IPNetwork Parse(string network)
    {
        ArgumentNullException.ThrowIfNull(network);
        int slash = network.IndexOf('/', StringComparison.Ordinal);
        var address = IPAddress.Parse(slash < 0 ? network : network[..slash]);
        byte[] bytes = address.GetAddressBytes();
        int bits = slash < 0 ? bytes.Length * 8 : int.Parse(network[(slash + 1)..], CultureInfo.InvariantCulture);
        return new IPNetwork(bytes, bits);
    }

    /// <summary>True when <paramref name="address"/> is inside the network.</summary>
    public bool Contains(IPAddress address)
    {
        if (address is null) return false;
        byte[] a = address.GetAddressBytes();
        if (a.Length != _prefix.Length) return false;
        for (int i = 0; i < _bits; i++)
        {
            int mask = 0x80 >> (i % 8);
            if ((a[i / 8] & mask) != (_prefix[i / 8] & mask)) return false;
        }
        return true;
    }
}

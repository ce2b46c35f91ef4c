namespace OspBridge.Crypto.Tests.Tls;

/// <summary>
/// A real QUIC ClientHello of Debian Chromium 156 headless (captured 2026-11-21 inside a private network
/// namespace: `--origin-to-force-quic-on=127.0.0.1:4433`, Initial packets decrypted with the RFC 9001
/// initial keys, CRYPTO frames of two 1250-byte Initials reassembled; 1893 bytes including the 4-byte header).
/// </summary>
internal static class ChromiumClientHello
{
    public static readonly byte[] Bytes = Convert.FromBase64String(
        "AQAHYQMDQuWjkHXENzsr/srYtgGZxs8EFQCpxjMNQEbxdAZ9KJQAAAYTARMCEwMBAAcyRM0ABQADAmgzAA0AFAASBAMIBAQBBQMI" +
        "BQUBCAYGAQIBABAABQADAmgzyjQAugC4BYLfEwIBBYLfEwIGBYLfEwINBYLfEwIOBYLfEwIPBYLfEwISBYLfEwITBYLfEwIUCIOa" +
        "ZIybLQEHCIOaZIybLQEICIOaZIybLQEJCIOaZIybLQEKCIOaZIybLQELCIOaZIybLQEMCIOaZIybLQENCIOaZIybLQESCIOaZIyb" +
        "LQETBNZ5CQEE1nkJBATWeQkFBNZ5CQYE1nkJBwTWeQkIBNZ5CQoE1nkJCwTWeQkMBNZ5CQ0E1nkJDwAzBOoE6BHsBMA/WBuMQyVr" +
        "2KfGV6jhoMkg5T1uUEI55XTjN4vTGDA4OGx/eaJmwz7Q4HQYEpHb2wF+opEt+owB9YmyYbVUhG47dM3+1XQrIYm0iVLZ0CM3WlKg" +
        "Kny6JZd+kcIaDJuVh1qZ5Y8Om6CYA4smexoWwhSXRyLAQQVwuj1bg4p0MTNHFMSpyWObFFb32WXTiLJ6EsVV23cwE4W+mnsrfKVQ" +
        "A7U5EsnZsaSaeVYUkAx6fM3WNrkaDDwYtcLG5l8kNlCj9xts1ivNBEK00CZba12T561m+nbJGEvN4KyhNTPklBAV2aj2VHN852eJ" +
        "l6acWQZkA3QZDDzeGjQle6kNci/1MaYjQTXo60MMRXY+hENTsKlR9U57iq5abFIoMIA5SatG50GRNYSwZiIVMXKZ7JZ4mLcGMCZA" +
        "PAZrpjWsGJ/p9SWu2iDQ85mmghNEx2r14X+avBAZYrVmFGuMuAoqUstDeUYg0oE4lQ7eNph0K2/pwz+O95qtJmM38jD0O8/DOa+n" +
        "IqmWuwaXlsJeuy3ha8oOasXHy5jbg7JK1ihZrCQkYrgClXQcSYAOiX6sWozQ0pMn+AcAMs4eKwWGS3FSiKuNJZygZZM/a6foMc/R" +
        "xmXnuEGDAJAg0VdhKricUVOdFQ/0vJlxaKtY/CXEXJoJ+YOghssDsqPqpDNBczBuuCoasBLOdW5svFNNCiOIgxXwNyiwcmdHh4hE" +
        "y7O9GkuY5CmzcpUZ1mo2NSPTNYnforpMM8xt48cPJZcFs3VLOGgtSlwRiiKVdKSF6y5LsVfJolVwWhV04lj3agLb+KMssWxeKqzr" +
        "sQNHt5364wNB5TGx/ACUCxJBu6bpnJ5C7FkMaAkt5xKKGAKC9Cjlu89jDIFv+MhXBWr+AGCVpE5BUaXkRgMAcsShh0s2m3hTjCDN" +
        "QRohwLFsmsjw9yfDxD9KCM+J0c8a0IGcRLalclEx4QyHOBMfy7i+c7Z8eGms43woc2LQxs3O6bZtLAJKwowyglCvxXZyNAu0hYB/" +
        "NYl/GlnmU8ljxG/0ck3fprDI5cc1Ybb+UaI7+1nxJVH2iagm2SMkhXGZKMbgt4n3hl2JSyLs5bbohXA9vIdwnCHdC4/6FVxF86Wm" +
        "510g0SlQGsRcpDdaSpe3qwBAhFl+RiLraoPo0Awz5D6GfKdyaMvhqUo19F631j5VYrVk1Lo5IFup025YNYLss1RFqDJC6jwPmrpu" +
        "iLsexG0G17wqlALZN2SGoWE+lMbua6bd+ncBdwr/KViiKKQoWs/gN0JemhGEWHwcA6e+qJsX8hKVsygbkZmtsRY3lpjrq3czrKaU" +
        "GSB5XEYc8EgBqKSRoI+bWk9PiaAKG42IOpgmB5Hn8bQxi7GMGGHhlbsEsZo1nC5Usxy6Gm2UURXV9ioYOolvygUMNZPQVVsMIJ3H" +
        "qX2jUiaYQQf2JLM32IgqcJwpCMgh/GlUsag1gEjsYh4bl8ryhJcgVSOMOc7Jtjqt9Unf4QyVxj1mMSdNa3yrRFop+3C2yKRdC65i" +
        "aVhtJBk7tqNlUweN6l0EsgL6JTlgD4qucrDGkqo5KQYhsWKwEc/SzeQY8ZX1EVbkx4Eid+0mdizUbJxHeOFPok4uT68OII+W/Y3v" +
        "nTstZIiNE0sOAB0AIEQvMz6WMreRmHW15/nIGsI5/rUq8IJmGTBKdoET+8xtAAoACgAIEewAHQAXABgAKwADAgMEABsAAwIAAgAt" +
        "AAIBAf4NANoAAAEAASkAIEp7R08h6RSCGsKOHwqdFUokpMC2hZcbPKzxurdWvQ9nALAHl+YrQUv9clBb4OMda9ABelPwoluALSy0" +
        "molsGrv4UErelnZ2P/qekj4uximxczbQhyFznXAzEAnZifEO2sE81qdcNgh+JJn0pdn8mofnvyCGMrdZWs8WK4vErNrrZiThQDIT" +
        "npOYxxRfJ4NBwLWtqcUfr+mbSuA4uWpuY3yk8hQSsiX+lhwHazgdNx1Vg4m7dMyOJmwvm8sZX9HhQYqlzovSAK5XLR5XKA3Je8BE" +
        "bAA5AFjCivxcLhGBmwiZnzHr5MOzjwYEgGAAAAgCQGQgBIABAAAHBIBgAAADAkXABQSAYAAAAQSAAHUwDwAJAkBncSgET1JJRxEM" +
        "AAAAAQAAAAE62qp6BASA8AAA");
}
